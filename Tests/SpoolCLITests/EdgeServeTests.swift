import Foundation
import Spool
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Extreme values sent to `spool serve` over HTTP, on every driver, with the server's
/// Prometheus metrics bootstrapped (as `spool serve` always does): values out of range are
/// refused with a 400 naming the field, values at the ends of the ranges run to a final state,
/// and the process stays up throughout. (`run_at` 1700 used to trap the metrics middleware when
/// the job ran, and again after every restart.)
@Suite("spool serve with extreme values", .timeLimit(.minutes(3)))
struct EdgeServeTests {
    enum Driver: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case memory, sqlite, postgres, redis
        var testDescription: String { rawValue }
    }

    static let refused: [(body: String, field: String)] = [
        (#"{"kind": "spool.noop", "run_at": "1700-01-01T00:00:00Z"}"#, "run_at"),
        (#"{"kind": "spool.noop", "run_at": "10000-01-01T00:00:00Z"}"#, "run_at"),
        (#"{"kind": "spool.noop", "priority": 9223372036854775807}"#, "priority"),
        (#"{"kind": "spool.noop", "max_attempts": 9223372036854775807}"#, "max_attempts"),
        (#"{"kind": "spool.noop", "timeout_s": 1e300}"#, "timeout_s"),
        (#"{"kind": "spool.noop", "delay_s": 1e300}"#, "delay_s"),
        (#"{"kind": "spool.noop", "queue": "a\u0000b"}"#, "queue"),
        (#"{"kind": "spool.noop\u0000x"}"#, "kind"),
        (#"{"kind": "spool.noop", "unique_key": "k\u0000"}"#, "unique_key"),
    ]

    static let accepted = [
        #"{"kind": "spool.noop", "run_at": "1970-01-01T00:00:00Z"}"#,
        #"{"kind": "spool.noop", "priority": -32768}"#,
        #"{"kind": "spool.noop", "priority": 32767}"#,
        #"{"kind": "spool.noop", "max_attempts": 65535, "timeout_s": 31536000}"#,
        #"{"kind": "spool.noop", "queue": "default", "unique_key": "caf\u00e9"}"#,
    ]

    @Test("refused with 400 naming the field; the ends of the ranges run to a final state; the server stays up", arguments: Driver.allCases)
    func extremeValues(_ driver: Driver) async throws {
        try await withDatabase(driver) { url in
            try await withTemporaryFolder { folder in
                let server = try SpoolChild(["serve", "--port", "0", "--database", url], in: folder)
                defer { server.removeOutput() }
                let base = try await ServeTests.address(of: server)
                for (body, field) in Self.refused {
                    let answer = try await ServeTests.post("\(base)/v1/jobs", body)
                    #expect(answer.status == 400 && answer.text.contains(field), "\(body): \(answer.status) \(answer.text)")
                }
                var ids: [String] = []
                for body in Self.accepted {
                    let answer = try await ServeTests.post("\(base)/v1/jobs", body)
                    #expect(answer.status == 202, "\(body): \(answer.text)")
                    ids.append(try #require(answer.json?["id"] as? String))
                }
                let last = try await ServeTests.post("\(base)/v1/jobs", #"{"kind": "spool.noop", "run_at": "9999-12-31T23:59:59Z"}"#)
                let lastID = try #require(last.json?["id"] as? String, "\(last.text)")
                #expect(last.json?["state"] as? String == "scheduled")
                for id in ids {
                    _ = try await ServeTests.waitForState(base, id, "succeeded", while: server)
                }
                let cancelled = try await ServeTests.post("\(base)/v1/jobs/\(lastID)/cancel", "")
                #expect(cancelled.status == 200 && cancelled.json?["state"] as? String == "cancelled", "\(cancelled.text)")
                let metrics = try await ServeTests.send(URLRequest(url: try #require(URL(string: "\(base)/metrics"))))
                #expect(metrics.status == 200 && metrics.text.contains("spool_queue_latency_seconds"), "\(metrics.text.prefix(300))")
                #expect(!server.hasExited, "the server is still up: \(server.output.stderr.suffix(400))")
                server.send(SIGTERM)
                #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr.suffix(400))")
            }
        }
    }

    @Test("--http-allow-hosts: an http job to another host is a 400 naming url; an empty list turns the kind off")
    func httpAllowList() async throws {
        try await withTemporaryFolder { folder in
            let server = try SpoolChild(
                ["serve", "--port", "0", "--database", "sqlite:\(folder)/jobs.sqlite", "--http-allow-hosts", "hooks.example.com"],
                in: folder
            )
            defer { server.removeOutput() }
            let base = try await ServeTests.address(of: server)
            let inside = try await ServeTests.post("\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "http://127.0.0.1:1/admin"}}"#)
            #expect(inside.status == 400 && inside.text.contains("allow-list"), "\(inside.text)")
            let allowed = try await ServeTests.post(
                "\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "https://hooks.example.com/x"}, "run_at": "9999-01-01T00:00:00Z"}"#
            )
            #expect(allowed.status == 202, "\(allowed.text)")
            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr.suffix(400))")
        }
        try await withTemporaryFolder { folder in
            let server = try SpoolChild(
                ["serve", "--port", "0", "--database", "sqlite:\(folder)/jobs.sqlite"], in: folder,
                environment: ["SPOOL_HTTP_ALLOW_HOSTS": ""])
            defer { server.removeOutput() }
            let base = try await ServeTests.address(of: server)
            let off = try await ServeTests.post("\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "https://hooks.example.com/x"}}"#)
            #expect(off.status == 400 && off.text.contains("sends no webhooks"), "\(off.text)")
            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0)
        }
    }

    /// The database URL of a fresh store for `driver` (the durable ones as the limit tests make them).
    private func withDatabase(_ driver: Driver, _ body: (String) async throws -> Void) async throws {
        guard let store = LimitCLITests.Store(rawValue: driver.rawValue) else { return try await body("memory:") }
        try await store.withStore { url, _ in try await body(url) }
    }
}
