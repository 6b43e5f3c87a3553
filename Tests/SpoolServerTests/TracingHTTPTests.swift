import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import Spool
@testable import SpoolServer
import Synchronization
import Testing
import Tracing

/// An in-memory tracer that propagates as W3C Trace Context does (`traceparent`), as swift-otel's
/// tracer would: hex ids, `inject` writes a `traceparent`, `extract` reads one.
struct W3CInMemoryTracer: Tracer {
    typealias Span = InMemorySpan
    let recorded: InMemoryTracer

    init() {
        recorded = InMemoryTracer(idGenerator: .init(nextTraceID: { "7" + Self.hex(31) }, nextSpanID: { "a" + Self.hex(15) }))
    }

    /// `digits` random lowercase hex digits.
    static func hex(_ digits: Int) -> String {
        String((0..<digits).map { _ in "0123456789abcdef".randomElement()! })
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
        function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        recorded.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let text = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = text.split(separator: "-")
        guard parts.count == 4 else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: String(parts[1]), spanID: String(parts[2]), parentSpanID: nil)
    }
}

@Suite("Tracing over HTTP", .timeLimit(.minutes(1)))
struct TracingHTTPTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let spanID = "00f067aa0ba902b7"
    static let traceparent = "00-\(traceID)-\(spanID)-01"

    /// Sends `body` to `uri` with `headers` (a JSON body).
    static func post(
        _ client: some TestClientProtocol, _ uri: String, _ body: String, headers extra: [(String, String)]
    ) async throws -> Reply {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for (name, value) in extra { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        let bytes = Array(response.body.readableBytesView)
        return Reply(
            status: response.status, headers: response.headers, text: String(decoding: bytes, as: UTF8.self),
            json: try? JSONParser.parse(bytes))
    }

    @Test func aJobEnqueuedWithATraceparentRunsAsAChildOfTheCallersSpan() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(kind: "test.traced") { _, _ in nil }
        let tracer = W3CInMemoryTracer()
        let worker = Worker(
            storage: storage, registry: registry, configuration: WorkerConfiguration(queues: ["q"]),
            middleware: [TracingMiddleware(tracer: tracer)])
        try await makeServer(storage, registry: registry).makeApplication().test(.live) { client in
            let reply = try await Self.post(
                client, "/v1/jobs", #"{"kind": "test.traced", "queue": "q"}"#,
                headers: [("traceparent", Self.traceparent), ("tracestate", "congo=t61rcWkgMzE")])
            #expect(reply.status == .accepted, "\(reply.text)")
            let id = try #require(reply["id"]?.stringValue.flatMap { JobID($0) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                #expect(try await storage.waitForFinish(id)?.state == .succeeded)
                worker.beginShutdown()
                try await group.waitForAll()
            }
            let shown = try await client.call(.get, "/v1/jobs/\(id)")
            #expect(shown["metadata"]?["traceparent"]?.stringValue == Self.traceparent)
            #expect(shown["metadata"]?["tracestate"]?.stringValue == "congo=t61rcWkgMzE")
        }
        let run = try #require(tracer.recorded.finishedSpans.first { $0.kind == .consumer })
        #expect(run.operationName == "process q")
        #expect(run.traceID == Self.traceID, "the caller's trace")
        #expect(run.parentSpanID == Self.spanID, "the caller's span is the parent")
    }

    @Test func claimHandsOnTheMetadataWithTheTraceparent() async throws {
        let storage = MemoryStorage()
        try await makeServer(storage).makeApplication().test(.live) { client in
            let reply = try await Self.post(
                client, "/v1/jobs/batch",
                #"{"jobs": [{"kind": "k", "metadata": {"tenant": "acme"}}, {"kind": "k", "metadata": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}, {"kind": "k", "metadata": {"tracestate": "own=1"}}]}"#,
                headers: [("traceparent", Self.traceparent)])
            #expect(reply.status == .accepted, "\(reply.text)")
            // A tracestate without a traceparent is ignored.
            let alone = try await Self.post(client, "/v1/jobs", #"{"kind": "k"}"#, headers: [("tracestate", "a=b")])
            #expect(alone.status == .accepted, "\(alone.text)")
            let claim = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "w", "queues": ["default"], "limit": 4}"#)
            let jobs = try #require(claim["jobs"]?.arrayValue)
            #expect(jobs.count == 4)
            // The header's context goes to the job without one; the job's own wins.
            #expect(jobs[0]["metadata"]?.normalized == .object([("tenant", .string("acme")), ("traceparent", .string(Self.traceparent))]))
            #expect(
                jobs[1]["metadata"]?.normalized
                    == .object([("traceparent", .string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))]))
            #expect(jobs[2]["metadata"]?.normalized == .object([("tracestate", .string("own=1"))]), "the job's own context is never mixed")
            #expect(jobs[3]["metadata"]?.normalized == .object([]))
            let problems = OpenAPIChecker(try await OpenAPITests.servedDocument()).problems(
                claim, method: .post, template: "/v1/worker/claim")
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    @Test(
        "a malformed trace context or metadata is refused with 400 naming it",
        arguments: [
            ("traceparent", "00-\(traceID)-\(spanID)", #"{"kind": "k"}"#, "traceparent"),
            ("traceparent", "00-\(traceID.uppercased())-\(spanID)-01", #"{"kind": "k"}"#, "traceparent"),
            ("traceparent", "00-00000000000000000000000000000000-\(spanID)-01", #"{"kind": "k"}"#, "traceparent"),
            ("traceparent", "00-\(traceID)-0000000000000000-01", #"{"kind": "k"}"#, "traceparent"),
            ("traceparent", "ff-\(traceID)-\(spanID)-01", #"{"kind": "k"}"#, "traceparent"),
            ("traceparent", "00-\(traceID)-\(spanID)-01-extra", #"{"kind": "k"}"#, "traceparent"),
            ("tracestate", "a=b\tc", #"{"kind": "k"}"#, "tracestate"),
            ("x-none", "", #"{"kind": "k", "metadata": {"traceparent": "nope"}}"#, "metadata.traceparent"),
            ("x-none", "", #"{"kind": "k", "metadata": {"tracestate": "a=\u00e9"}}"#, "metadata.tracestate"),
            ("x-none", "", #"{"kind": "k", "metadata": {"traceparent": "01-\#(traceID)-\#(spanID)-01-\n"}}"#, "metadata.traceparent"),
            ("x-none", "", #"{"kind": "k", "metadata": {"n": 1}}"#, "metadata.n"),
            ("x-none", "", #"{"kind": "k", "metadata": ["a"]}"#, "metadata"),
            ("x-none", "", #"{"kind": "k", "metadata": {"": "empty key"}}"#, "metadata"),
            ("x-none", "", #"{"kind": "k", "metadata": {"v": "\#(String(repeating: "x", count: 4097))"}}"#, "metadata.v"),
            (
                "x-none", "",
                #"{"kind": "k", "metadata": {\#((0...64).map { "\"k\($0)\": \"v\"" }.joined(separator: ", "))}}"#, "metadata"
            ),
        ])
    func malformedTraceContext(header: String, value: String, body: String, field: String) async throws {
        let storage = MemoryStorage()
        try await makeServer(storage).makeApplication().test(.live) { client in
            let headers: [(String, String)] = header == "x-none" ? [] : [(header, value)]
            for (uri, sent) in [("/v1/jobs", body), ("/v1/jobs/batch", #"{"jobs": [\#(body)]}"#)] {
                let reply = try await Self.post(client, uri, sent, headers: headers)
                #expect(reply.status == .badRequest, "\(uri) \(sent.prefix(200)) → \(reply.text)")
                let named = uri.hasSuffix("batch") && field.hasPrefix("metadata") ? "jobs[0]." + field : field
                #expect(reply["field"]?.stringValue == named, "\(uri) → \(reply.text)")
            }
        }
        #expect(try await storage.stats().queues.isEmpty, "nothing was stored")
    }

    @Test func theDocumentsPatternAcceptsWhatTheServerAccepts() throws {
        let regex = try NSRegularExpression(pattern: TraceContext.traceParentPattern)
        let samples = [
            Self.traceparent, "01-\(Self.traceID)-\(Self.spanID)-01-more", "01-\(Self.traceID)-\(Self.spanID)-01",
            "00-\(Self.traceID)-\(Self.spanID)-01-",
            "ff-\(Self.traceID)-\(Self.spanID)-01", "00-\(Self.traceID)-\(Self.spanID)-1", "0-\(Self.traceID)-\(Self.spanID)-01",
            "00-00000000000000000000000000000000-\(Self.spanID)-01", "00-\(Self.traceID)-0000000000000000-01", "",
            "01-\(Self.traceID)-\(Self.spanID)-01x", "00-\(Self.traceID.uppercased())-\(Self.spanID)-01",
            "01-\(Self.traceID)-\(Self.spanID)-01-\u{E9}", "01-\(Self.traceID)-\(Self.spanID)-01-a\nb",
        ]
        for sample in samples {
            let whole = NSRange(sample.startIndex..., in: sample)
            let matched = regex.firstMatch(in: sample, range: whole)?.range == whole
            #expect(matched == TraceContext.isTraceParent(sample), "\(sample)")
        }
    }
}
