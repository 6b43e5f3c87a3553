import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Spool
import SpoolTesting
import SpoolWebhooks
import Synchronization
import Testing

/// The `http` job kind against a real HTTP server on loopback (Hummingbird on a free port).
@Suite("http job kind", .timeLimit(.minutes(2)))
struct HTTPJobTests {
    @Test("2xx delivers; 408, 429 and 5xx retry; every other status is permanent")
    func verdicts() {
        for status in [200, 201, 202, 204, 299] { #expect(HTTPJob.classify(status: status) == .delivered, "\(status)") }
        for status in [408, 429, 500, 502, 503, 504, 599] { #expect(HTTPJob.classify(status: status) == .retry, "\(status)") }
        for status in [100, 301, 304, 400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 600] {
            #expect(HTTPJob.classify(status: status) == .permanent, "\(status)")
        }
    }

    @Test("a bad payload is refused before anything is sent, naming the field")
    func validation() throws {
        let cases: [(HTTPJob, String)] = [
            (HTTPJob(url: "ftp://example.com/x"), "url"),
            (HTTPJob(url: "/relative"), "url"),
            (HTTPJob(url: "not a url"), "url"),
            (HTTPJob(url: "http://example.com", method: "PO ST"), "method"),
            (HTTPJob(url: "http://example.com", method: ""), "method"),
            (HTTPJob(url: "http://example.com", timeoutSeconds: 0), "timeout_s"),
            (HTTPJob(url: "http://example.com", timeoutSeconds: 301), "timeout_s"),
            (HTTPJob(url: "http://example.com", headers: ["X-A": "b\r\nInjected: 1"]), "header"),
            (HTTPJob(url: "http://example.com", headers: ["Bad Name": "v"]), "header"),
        ]
        for (job, field) in cases {
            let error = #expect(throws: PermanentFailure.self) { try job.validate() }
            #expect(error?.reason.contains(field) == true, "\(job): \(String(describing: error))")
        }
        try HTTPJob(url: "https://example.com/hook", method: "put", headers: ["X-Key": "1"], timeoutSeconds: 5).validate()
    }

    @Test("the payload's JSON shape: snake_case timeout, any JSON body, big integers exact")
    func payloadShape() throws {
        let text = #"{"url": "http://h/x", "body": {"id": 9007199254740993, "tags": ["a", null, true, 1.5]}, "timeout_s": 2.5}"#
        let job = try JobPayload(bytes: Array(text.utf8)).decode(as: HTTPJob.self)
        #expect(job.timeoutSeconds == 2.5)
        #expect(
            job.body == .object(["id": .integer(9_007_199_254_740_993), "tags": .array([.string("a"), .null, .bool(true), .number(1.5)])]))
        #expect(String(decoding: try #require(job.body).encoded(), as: UTF8.self) == #"{"id":9007199254740993,"tags":["a",null,true,1.5]}"#)
    }

    @Test("a delivery sends the method, headers and JSON body, and keeps the answer's start")
    func delivery() async throws {
        try await withReceiver { receiver in
            let job = HTTPJob(
                url: "\(receiver.base)/hook?x=1", method: "PUT", headers: ["X-Signature": "abc"],
                body: .object(["order": .integer(42)])
            )
            let result = try await job.deliver(with: .shared, logger: Logger(label: "test"))
            #expect(result.status == 200)
            #expect(result.body == #"PUT /hook x-signature=abc content-type=application/json {"order":42}"#)
            #expect(result.durationMs >= 0)

            let big = try await HTTPJob(url: "\(receiver.base)/big").deliver(with: .shared, logger: Logger(label: "test"))
            #expect(big.body.utf8.count == HTTPJob.resultBodyLimit, "100 KB answer cut to the limit")
        }
    }

    @Test("5xx, 408, 429, a timeout and a refused connection are retryable; 4xx is permanent")
    func failures() async throws {
        try await withReceiver { receiver in
            let logger = Logger(label: "test")
            for status in [500, 503, 408, 429] {
                let error = await #expect(throws: HTTPJob.DeliveryFailed.self) {
                    _ = try await HTTPJob(url: "\(receiver.base)/status/\(status)").deliver(with: .shared, logger: logger)
                }
                #expect(error?.status == status)
                #expect(error?.description.contains("answered \(status)") == true)
            }
            for status in [400, 404, 410, 422] {
                let error = await #expect(throws: PermanentFailure.self) {
                    _ = try await HTTPJob(url: "\(receiver.base)/status/\(status)").deliver(with: .shared, logger: logger)
                }
                #expect(error?.reason.contains("answered \(status)") == true)
            }
            let slow = await #expect(throws: HTTPJob.DeliveryFailed.self) {
                _ = try await HTTPJob(url: "\(receiver.base)/slow", timeoutSeconds: 0.2).deliver(with: .shared, logger: logger)
            }
            #expect(slow?.status == nil && slow?.description.contains("timed out") == true, "\(String(describing: slow))")
        }
        let refused = await #expect(throws: HTTPJob.DeliveryFailed.self) {
            _ = try await HTTPJob(url: "http://127.0.0.1:1/x", timeoutSeconds: 2).deliver(with: .shared, logger: Logger(label: "test"))
        }
        #expect(refused?.status == nil)
    }

    @Test("an allow-list of hosts: other hosts are refused before sending and dead when run; redirects are not followed")
    func allowList() async throws {
        let policy = try HTTPJobPolicy(allowedHosts: ["127.0.0.1", "*.example.com"])
        for url in ["https://hooks.example.com/x", "http://a.b.example.com/x", "http://127.0.0.1:9/x"] {
            try HTTPJob(url: url).validate(policy: policy)
        }
        for url in [
            "http://169.254.169.254/latest/meta-data", "http://localhost/x", "http://example.com/x", "http://evil.com/.example.com",
            "http://[::1]/x",
        ] {
            let error = #expect(throws: PermanentFailure.self) { try HTTPJob(url: url).validate(policy: policy) }
            #expect(error?.reason.contains("allow-list") == true, "\(url): \(String(describing: error))")
        }
        #expect(throws: PermanentFailure.self) { try HTTPJob(url: "http://127.0.0.1/x").validate(policy: .none) }
        #expect(throws: PermanentFailure.self) { try HTTPJobPolicy(allowedHosts: ["bad host"]) }
        #expect(try HTTPJobPolicy(allowedHosts: ["[::1]"]).allows(host: "[::1]"))

        try await withReceiver { receiver in
            let port = try #require(receiver.base.split(separator: ":").last)
            // Without an allow-list the redirect is followed; with one, a 3xx answer is final.
            let open = try await HTTPJob(url: "\(receiver.base)/redirect", method: "GET").deliver(
                with: .shared, logger: Logger(label: "test"))
            #expect(open.status == 200 && receiver.hits("/status/200") == 1)

            let storage = MemoryStorage()
            let registry = JobRegistry()
            HTTPJob.register(in: registry, options: JobOptions(maxAttempts: 3, retry: .fixed(.milliseconds(10))), policy: policy)
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            let worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: 2))
            try await withRunningWorker(worker) {
                // Stored without the enqueue-time check (as by another program): dead when run.
                let elsewhere = try await client.enqueue(HTTPJob(url: "http://localhost:\(port)/status/200", method: "GET"))
                let redirected = try await client.enqueue(HTTPJob(url: "\(receiver.base)/redirect", method: "GET"))
                let refused = try await elsewhere.value.record
                #expect(refused.state == .dead, "the job to another host is dead: \(refused.state)")
                #expect(refused.attempt == 1 && refused.lastError?.message.contains("allow-list") == true, "\(refused.errors)")
                let stopped = try await redirected.value.record
                #expect(stopped.state == .dead, "the redirected job is dead: \(stopped.state)")
                #expect(stopped.attempt == 1 && stopped.lastError?.message.contains("answered 302") == true, "\(stopped.errors)")
            }
            #expect(receiver.hits("/status/200") == 1, "nothing reached the host outside the list")
        }
    }

    @Test("through a worker: 2xx succeeds with the result, 5xx retries until dead, 404 is dead at once")
    func throughAWorker() async throws {
        try await withReceiver { receiver in
            let storage = MemoryStorage()
            let registry = JobRegistry()
            HTTPJob.register(in: registry, options: JobOptions(maxAttempts: 3, retry: .fixed(.milliseconds(10))))
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            let worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: 4))
            try await withRunningWorker(worker) {
                let ok = try await client.enqueue(HTTPJob(url: "\(receiver.base)/hook", body: .string("hi")))
                let flaky = try await client.enqueue(HTTPJob(url: "\(receiver.base)/status/503"))
                let missing = try await client.enqueue(HTTPJob(url: "\(receiver.base)/status/404"))

                let delivered = try await ok.value.record
                #expect(delivered.state == .succeeded, "the 2xx job succeeded: \(delivered.state)")
                let result = try JobPayload(bytes: try #require(delivered.result)).decode(as: HTTPJob.Result.self)
                #expect(result.status == 200 && result.body.hasSuffix(#""hi""#), "\(result)")

                let dead = try await flaky.value.record
                #expect(dead.state == .dead, "the 503 job is dead: \(dead.state)")
                #expect(dead.attempt == 3 && dead.errors.count == 3, "retried until its attempts ran out")
                #expect(dead.errors.allSatisfy { $0.message.contains("answered 503") })

                let refused = try await missing.value.record
                #expect(refused.state == .dead, "the 404 job is dead: \(refused.state)")
                #expect(refused.attempt == 1, "a 4xx is not retried")
                #expect(refused.errors.last?.message.contains("answered 404") == true)
            }
            #expect(receiver.hits("/status/503") == 3 && receiver.hits("/status/404") == 1)
        }
    }
}

/// A webhook receiver on loopback: `/hook` echoes what it got, `/status/N` answers N, `/slow`
/// answers after 5 s, `/big` answers 100 KB, `/redirect` sends to `localhost`'s `/status/200`.
final class Receiver: Sendable {
    let base: String
    private let counts = Mutex<[String: Int]>([:])

    init(base: String) {
        self.base = base
    }

    /// Counts a request to `path`.
    func tally(_ path: String) { counts.withLock { $0[path, default: 0] += 1 } }

    /// How many requests reached `path`.
    func hits(_ path: String) -> Int { counts.withLock { $0[path] ?? 0 } }
}

/// Runs `body` with a receiver listening on a free loopback port, then stops it.
func withReceiver(_ body: @Sendable (Receiver) async throws -> Void) async throws {
    let receiver = Mutex<Receiver?>(nil)
    let tally: @Sendable (String) -> Void = { path in receiver.withLock { $0?.tally(path) } }
    let router = Router()
    router.on("/hook", method: .put) { request, context in try await echo(request, context, tally) }
    router.on("/hook", method: .post) { request, context in try await echo(request, context, tally) }
    for method in [HTTPRequest.Method.get, .post] {
        router.on("/status/{code}", method: method) { request, context -> Response in
            tally(request.uri.path)
            let code = try context.parameters.require("code", as: Int.self)
            return Response(status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: "status \(code)")))
        }
        router.on("/slow", method: method) { _, _ -> String in
            try await Task.sleep(for: .seconds(5))  // answers too late: the behaviour the timeout tests need
            return "late"
        }
        router.on("/big", method: method) { _, _ -> String in String(repeating: "x", count: 100_000) }
        // A redirect to the same server by another name: `localhost` instead of `127.0.0.1`.
        router.on("/redirect", method: method) { request, _ -> Response in
            let port = request.head.authority?.split(separator: ":").last.map(String.init) ?? "80"
            var response = Response(status: .found)
            response.headers[.location] = "http://localhost:\(port)/status/200"
            return response
        }
    }
    var logger = Logger(label: "test.receiver")
    logger.logLevel = .critical  // its shutdown at the end of a test is not news
    let started = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in started.continuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        var iterator = started.stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        let listening = Receiver(base: "http://127.0.0.1:\(bound)")
        receiver.withLock { $0 = listening }
        defer { group.cancelAll() }
        try await body(listening)
    }
}

/// `/hook`: answers `METHOD PATH x-signature=… content-type=… BODY`.
private func echo(_ request: Request, _ context: BasicRequestContext, _ tally: @Sendable (String) -> Void) async throws -> String {
    tally(request.uri.path)
    let body = try await request.body.collect(upTo: 1 << 20)
    let signature = request.headers.first { $0.name.canonicalName == "x-signature" }?.value ?? "-"
    let type = request.headers[.contentType] ?? "-"
    return "\(request.method.rawValue) \(request.uri.path) x-signature=\(signature) content-type=\(type) \(String(buffer: body))"
}
