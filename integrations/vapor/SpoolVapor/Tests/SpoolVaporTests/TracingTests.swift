import InMemoryTracing
import Spool
import SpoolVapor
import Testing
import Tracing
import Vapor

/// The process's tracer: bootstrapped once, by the first test that needs it (the only one).
/// Other tests running meanwhile may record spans in it too; nothing reads theirs.
private let tracer: InMemoryTracer = {
    let tracer = InMemoryTracer()
    InstrumentationSystem.bootstrap(tracer)
    return tracer
}()

private struct Traced: JobParameters {
    static let kind = "test.traced"
    var marker: String
}

@Suite("req.spool continues the request's trace")
struct TracingTests {
    @Test("behind Vapor's TracingMiddleware, the enqueue's producer span is a child of the request's server span")
    func enqueueIsChildOfRequestSpan() async throws {
        let tracer = tracer
        let marker = UUID().uuidString
        try await withRunningApp { app in
            app.middleware.use(Vapor.TracingMiddleware())
            try app.spool.use(MemoryStorage())  // after the bootstrap: its client traces
            app.post("traced") { req async throws -> HTTPStatus in
                try await req.spool.enqueue(Traced(marker: marker))
                return .accepted
            }
        } _: { _, port in
            let reply = try await send(.POST, "/traced", port: port)
            #expect(reply.status == .accepted, "\(reply.text)")
        }
        let spans = tracer.finishedSpans
        let server = try #require(spans.first { $0.operationName.contains("traced") }, "\(spans.map(\.operationName))")
        let producer = try #require(
            spans.first { $0.operationName == "send default" && $0.traceID == server.traceID },
            "a 'send default' span in the request's trace: \(spans.map { ($0.operationName, $0.traceID) })")
        #expect(producer.parentSpanID == server.spanID)
    }

    @Test("a context set only on the request (req.serviceContext, the task has none) is the enqueue's parent too")
    func enqueueContinuesRequestServiceContext() async throws {
        let tracer = tracer
        let marker = UUID().uuidString
        try await withRunningApp { app in
            app.middleware.use(ContextOnRequest(operation: "outer \(marker)"))
            try app.spool.use(MemoryStorage())
            app.post("traced") { req async throws -> HTTPStatus in
                #expect(ServiceContext.current == nil, "the handler's task has no context of its own")
                try await req.spool.enqueue(Traced(marker: marker))
                return .accepted
            }
        } _: { _, port in
            let reply = try await send(.POST, "/traced", port: port)
            #expect(reply.status == .accepted, "\(reply.text)")
        }
        let spans = tracer.finishedSpans
        let outer = try #require(spans.first { $0.operationName == "outer \(marker)" }, "\(spans.map(\.operationName))")
        let producer = try #require(
            spans.first { $0.operationName == "send default" && $0.traceID == outer.traceID },
            "a 'send default' span in the request's trace: \(spans.map { ($0.operationName, $0.traceID) })")
        #expect(producer.parentSpanID == outer.spanID)
    }
}

/// Starts a span and sets it as the request's `serviceContext` only, as a middleware that does
/// not use `withSpan` would.
private struct ContextOnRequest: AsyncMiddleware {
    let operation: String

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let span = InstrumentationSystem.tracer.startSpan(operation, context: .topLevel)
        defer { span.end() }
        request.serviceContext = span.context
        return try await next.respond(to: request)
    }
}
