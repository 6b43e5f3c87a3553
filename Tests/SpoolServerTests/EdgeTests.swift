import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Spool
import Testing
@testable import SpoolServer

/// What a request sends that must not stop the server or reach past it: path parameters,
/// methods, broken framing, slow and idle connections, label values.
@Suite("The server's edges")
struct EdgeTests {
    /// `a%20b` pauses `a b`; names are NFC; bad encodings and names are 400 naming the parameter.
    @Test func pathParametersArePercentDecodedAndChecked() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client in
            #expect(try await client.call(.post, "/v1/queues/a%20b/pause").status == .ok)
            let paused = try await client.call(.post, "/v1/queues/caf%65%CC%81/pause")
            #expect(paused["name"]?.stringValue == "caf\u{E9}", "decoded, then NFC")
            #expect(try await storage.pausedQueues() == ["a b", "caf\u{E9}"])
            #expect(try await client.call(.post, "/v1/queues/a%20b/resume").status == .ok)
            let limits = try await client.call(.put, "/v1/queues/x%2Fy/limits", body: #"{"max_running": 2}"#)
            #expect(limits["name"]?.stringValue == "x/y")
            #expect(try await storage.queueLimits()["x/y"]?.maxRunning == 2)

            let bad: [(String, String)] = [
                ("/v1/queues/a%zz/pause", "not valid percent-encoding"),
                ("/v1/queues/%/pause", "not valid percent-encoding"),
                ("/v1/queues/%FF/pause", "not valid percent-encoding"),
                ("/v1/queues/a%00b/pause", "control characters"),
                ("/v1/queues/a%0Ab/resume", "control characters"),
                ("/v1/queues/\(String(repeating: "q", count: 256))/pause", "at most 255"),
            ]
            for (path, detail) in bad {
                let reply = try await client.call(.post, path)
                #expect(reply.status == .badRequest, "\(path) → \(reply.text)")
                #expect(reply["type"]?.stringValue == "urn:spool:problem:invalid-path-parameter")
                #expect(reply["parameter"]?.stringValue == "name")
                #expect(reply["detail"]?.stringValue?.contains(detail) == true, "\(path) → \(reply.text)")
            }
            let badID = try await client.call(.get, "/v1/jobs/%zz")
            #expect(badID.status == .badRequest)
            #expect(badID["parameter"]?.stringValue == "id")
            let id = try await store(storage, queue: "mail")
            let encodedID = "%" + String(format: "%02X", Character(String(id.description.first!)).asciiValue!) + id.description.dropFirst()
            #expect(try await client.call(.get, "/v1/jobs/\(encodedID)").status == .ok, "an encoded id is decoded too")
        }
        #expect(try await storage.pausedQueues() == ["caf\u{E9}"])
    }

    /// The dashboard's queue forms check the name like the API does.
    @Test func dashboardQueueNamesAreChecked() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage)
        try await withClient(server) { client in
            let ok = try await client.post("/queues/pause", form: [("csrf", server.formToken), ("queue", "cafe\u{301}")])
            #expect(ok.status == .seeOther)
            let bad = try await client.post("/queues/pause", form: [("csrf", server.formToken), ("queue", "a\u{7}b")])
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("queue must not hold control characters"))
        }
        #expect(try await storage.pausedQueues() == ["caf\u{E9}"])
    }

    /// A known path with another method is 405 with `Allow`; an unknown path stays 404.
    @Test func anUndeclaredMethodIs405WithAllow() async throws {
        try await withClient(makeServer()) { client in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.delete, "/v1/stats", "GET"),
                (.put, "/v1/jobs", "GET, POST"),
                (.get, "/v1/jobs/batch", "POST"),
                (.patch, "/v1/jobs/01M82B0M5DZ19KMV26XGTCPCMB", "GET, DELETE"),
                (.get, "/v1/queues/mail/pause", "POST"),
                (.post, "/metrics", "GET"),
                (.delete, "/jobs", "GET"),
            ]
            for (method, path, allow) in cases {
                let reply = try await client.call(method, path)
                #expect(reply.status == .methodNotAllowed, "\(method) \(path) → \(reply.text)")
                #expect(reply.headers[.allow] == allow, "\(method) \(path)")
                #expect(reply.contentType == "application/problem+json")
                #expect(reply["type"]?.stringValue == "urn:spool:problem:method-not-allowed")
            }
            for path in ["/v1/nope", "/v1/stats/x", "/v1/queues/mail/explode"] {
                let reply = try await client.call(.get, path)
                #expect(reply.status == .notFound, "\(path) → \(reply.text)")
                #expect(reply.headers[.allow] == nil)
            }
        }
    }

    /// A broken chunked body is 400 (problem+json), not a logged 500.
    @Test func aMalformedChunkedBodyIs400() async throws {
        let storage = MemoryStorage()
        let logs = LogEntries()
        try await withLiveServer(storage, configure: { $0.logger = logs.logger }) { port in
            for chunk in [
                "zz\r\n{}\r\n0\r\n\r\n", "5\r\n{\"kind\": \"a\"}\r\n0\r\n\r\n", "-1\r\n{}\r\n0\r\n\r\n", "ffffffffffffffffff\r\n{}\r\n",
            ] {
                let reply = try await RawHTTP.exchange(
                    port: port,
                    [
                        "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + chunk
                    ])
                #expect(reply.status == 400, "\(chunk.debugDescription) → \(reply.received)")
                #expect(reply.header("content-type") == "application/problem+json", "\(reply.received)")
                #expect(reply.json?["type"]?.stringValue == "urn:spool:problem:malformed-request", "\(reply.received)")
            }
        }
        #expect(logs.atLeast(.error).isEmpty, "\(logs.atLeast(.error))")
        #expect(try await storage.jobs(JobFilter(), after: nil, limit: 10).jobs.isEmpty)
    }

    /// A connection that sends half a request line is closed after the header limit, well
    /// before the idle limit.
    @Test func aSlowHeadIsClosedAfterTheHeaderLimit() async throws {
        try await withLiveServer(configure: {
            $0.headerTimeout = .milliseconds(300); $0.idleTimeout = .seconds(30)
        }) { port in
            let half = try await RawHTTP.exchange(port: port, ["GET /v1/jo"])
            #expect(half.received.isEmpty, "closed without an answer")
            #expect(half.closedAfter >= .milliseconds(250) && half.closedAfter < .seconds(15), "\(half.closedAfter)")
            // Headers sent in pieces, each in time, still get the limit counted from the first.
            let pieces = try await RawHTTP.exchange(port: port, ["GET /healthz HTTP/1.1\r\n", "Host: 127.0.0.1\r\n", "X-Slow: 1\r\n"])
            #expect(pieces.received.isEmpty)
            #expect(pieces.closedAfter < .seconds(15))
        }
    }

    /// An idle connection is closed after the idle limit; the header limit does not close a
    /// connection that sends nothing, nor one between requests.
    @Test func anIdleConnectionIsClosedAfterTheIdleLimit() async throws {
        try await withLiveServer(configure: {
            $0.headerTimeout = .milliseconds(100); $0.idleTimeout = .milliseconds(1500)
        }) { port in
            let silent = try await RawHTTP.exchange(port: port, [])
            #expect(silent.closedAfter >= .milliseconds(1400), "the header limit does not apply before a first byte: \(silent.closedAfter)")
            #expect(silent.closedAfter < .seconds(15))
            // A keep-alive connection after its request is answered: idle, then closed.
            let kept = try await RawHTTP.exchange(port: port, ["GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"])
            #expect(kept.status == 200, "\(kept.received)")
            #expect(kept.closedAfter >= .milliseconds(1400), "\(kept.closedAfter)")
            #expect(kept.closedAfter < .seconds(15))
        }
    }

    /// 2,000 queues give at most the documented number of depth series, and the series of
    /// queues whose jobs are deleted are gone at the next scrape.
    @Test func metricsStayBounded() async throws {
        let storage = MemoryStorage()
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let client = SpoolClient(storage: storage, middleware: [MetricsMiddleware(factory: factory)])
        var ids: [JobID] = []
        for batch in stride(from: 0, to: 2000, by: 200) {
            let jobs = (batch..<batch + 200).map { index in
                NewJob(
                    queue: "q\(index)", kind: "kind\(index)", payload: JobPayload(bytes: Array("{}".utf8)), maxAttempts: 3, runAt: Date(),
                    createdAt: Date())
            }
            ids += try await client.enqueue(jobs, whenFull: .fail).map(\.id)
        }
        try await storage.setPaused(true, queue: "q1999")
        let server = makeServer(storage) { $0.metricsRegistry = registry }
        let stored = ids
        try await withClient(server) { client in
            let first = try await client.call(.get, "/metrics").text
            let depth = Self.series(first, "spool_queue_depth") + Self.series(first, "spool_queue_paused")
            #expect(depth.count <= QueueDepthGauges.maximumSeries, "\(depth.count) series")
            #expect(depth.count == (QueueDepthGauges.maximumQueues + 1) * (JobState.allCases.count + 1))
            #expect(Self.value(first, #"spool_queue_depth{queue="other",state="available"}"#) == 1900)
            #expect(Self.value(first, #"spool_queue_paused{queue="other"}"#) == 1)
            #expect(Self.value(first, #"spool_queue_paused{queue="q0"}"#) == 0)
            let enqueued = Self.series(first, "spool_jobs_enqueued_total")
            // q0…q99 with kind0…kind99, then `other` with kind100…kind199, then other/other.
            #expect(enqueued.count == 201, "\(enqueued.count) series")
            #expect(Self.value(first, #"spool_jobs_enqueued_total{queue="other",kind="other"}"#) == 1800)
            #expect(Self.value(first, #"spool_jobs_enqueued_total{queue="other",kind="kind150"}"#) == 1)
            #expect(Self.value(first, #"spool_jobs_enqueued_total{queue="q7",kind="kind7"}"#) == 1)
            #expect(first.utf8.count < 100_000, "\(first.utf8.count) bytes")

            _ = try await storage.delete(stored)
            try await storage.setPaused(false, queue: "q1999")
            try await store(storage, queue: "left")
            let second = try await client.call(.get, "/metrics").text
            let after = Self.series(second, "spool_queue_depth") + Self.series(second, "spool_queue_paused")
            #expect(after.count == JobState.allCases.count + 1, "only queue 'left' remains: \(after)")
            #expect(after.allSatisfy { $0.contains(#"queue="left""#) })
        }
    }

    /// The value of the series `series` (name and labels) in a Prometheus text page.
    static func value(_ page: String, _ series: String) -> Double? {
        page.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }

    /// The sample lines of metric `name` in a Prometheus text page.
    static func series(_ page: String, _ name: String) -> [String] {
        page.split(separator: "\n").map(String.init).filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
    }
}
