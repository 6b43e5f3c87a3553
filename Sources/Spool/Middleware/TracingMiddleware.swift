import Tracing

/// Traces enqueues and runs with swift-distributed-tracing, after OpenTelemetry's messaging
/// conventions, and carries the trace context from the producer to every run in the job's
/// metadata (`traceparent` and `tracestate` with a W3C tracer such as swift-otel's).
///
/// - **Enqueue of one job**: a `send {queue}` span of kind `producer`, around the store call.
///   Its context is injected into the job's metadata through the tracer's `inject`.
/// - **Enqueue of a batch**: a `create {queue}` span (`producer`) per job, each the creation
///   context injected into its job, then one `send {queue}` span (`client`; `send` alone when
///   the jobs go to several queues) around the store call, linked to every `create` span and
///   with `messaging.batch.message_count`.
/// - A job whose metadata already carries a context (a `traceparent` sent by an HTTP caller)
///   keeps it: its producer span is that context's child, and its runs continue the caller's
///   span.
/// - **Each run** (each attempt) is a `process {queue}` span of kind `consumer`, whose parent is
///   the context extracted from the job's metadata: retries are sibling spans of one trace.
///   A thrown error is recorded and sets the status to error; a ``Snooze`` does not. The span is
///   the current context while the handler runs, so the handler's own spans are its children.
///
/// Attributes: `messaging.system` (`spool`), `messaging.destination.name` (the queue),
/// `messaging.operation.type` and `.name`, `messaging.message.id` (the job id),
/// `spool.job.kind`, and on runs `spool.job.attempt` (and `error.type` on failure).
///
/// **Parent, not link.** The run's span is a child of the producer's context rather than the root
/// of a trace of its own with a link (as swift-jobs does): one trace then shows an HTTP request,
/// its enqueue and every attempt together, which is what most viewers display best. A job that
/// waits days makes a long trace; that is the price.
///
/// **Cost.** The tracer is chosen when the middleware is made: the one given, else the
/// bootstrapped one (`InstrumentationSystem.bootstrap`). When that is the no-op tracer the
/// middleware is disabled: ``SpoolClient`` and ``Worker`` leave a disabled one out of their
/// paths, so it costs nothing per job. Bootstrap the tracer before making clients and workers.
public struct TracingMiddleware: JobRunMiddleware, JobEnqueueMiddleware {
    /// Nil when disabled (no tracer is bootstrapped).
    private let tracer: (any Tracer)?

    /// The value of `messaging.system`.
    public static let messagingSystem = "spool"

    /// A middleware tracing to `tracer`, or when nil to the bootstrapped tracer (disabled when
    /// that is the no-op tracer).
    public init(tracer: (any Tracer)? = nil) {
        let tracer = tracer ?? InstrumentationSystem.tracer
        self.tracer = tracer is NoOpTracer ? nil : tracer
    }

    /// False when there is no tracer to report to: the middleware then does nothing.
    public var isEnabled: Bool { tracer != nil }

    /// A tracing middleware for the bootstrapped tracer, or none when no tracer is bootstrapped:
    /// what the default middleware of ``SpoolClient`` and ``Worker`` include.
    public static var bootstrapped: [any JobMiddleware] {
        let middleware = TracingMiddleware()
        return middleware.isEnabled ? [middleware] : []
    }

    // MARK: Enqueue

    public func enqueue(_ jobs: [NewJob], next: ([NewJob]) async throws -> [EnqueueResult]) async throws -> [EnqueueResult] {
        guard let tracer, !jobs.isEmpty else { return try await next(jobs) }
        let current = ServiceContext.current ?? .topLevel
        var jobs = jobs
        let send: any Span
        if jobs.count == 1 {
            let carried = carriedContext(jobs[0].metadata, tracer: tracer)
            send = tracer.startSpan("send \(jobs[0].queue)", context: carried ?? current, ofKind: .producer)
            send.updateAttributes { attributes in
                Self.describe(&attributes, jobs[0], operation: "send")
            }
            if carried == nil { tracer.inject(send.context, into: &jobs[0].metadata, using: MetadataInjector()) }
        } else {
            var links: [SpanLink] = []
            links.reserveCapacity(jobs.count)
            for index in jobs.indices {
                let carried = carriedContext(jobs[index].metadata, tracer: tracer)
                let create = tracer.startSpan("create \(jobs[index].queue)", context: carried ?? current, ofKind: .producer)
                create.updateAttributes { attributes in
                    Self.describe(&attributes, jobs[index], operation: "create")
                }
                if carried == nil { tracer.inject(create.context, into: &jobs[index].metadata, using: MetadataInjector()) }
                create.end()
                links.append(SpanLink(context: create.context, attributes: [:]))
            }
            let queue = jobs[0].queue
            let oneQueue = jobs.allSatisfy { $0.queue == queue }
            send = tracer.startSpan(oneQueue ? "send \(queue)" : "send", context: current, ofKind: .client)
            let count = jobs.count
            send.updateAttributes { attributes in
                attributes["messaging.system"] = Self.messagingSystem
                if oneQueue { attributes["messaging.destination.name"] = queue }
                attributes["messaging.operation.type"] = "send"
                attributes["messaging.operation.name"] = "send"
                attributes["messaging.batch.message_count"] = count
            }
            for link in links { send.addLink(link) }
        }
        defer { send.end() }
        do {
            let stored = jobs
            return try await ServiceContext.withValue(send.context) { try await next(stored) }
        } catch {
            Self.fail(send, error)
            throw error
        }
    }

    /// The context `metadata` carries (a `traceparent` of an HTTP caller), or nil.
    private func carriedContext(_ metadata: [String: String], tracer: any Tracer) -> ServiceContext? {
        guard !metadata.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract(metadata, into: &context, using: MetadataExtractor())
        return context.isEmpty ? nil : context
    }

    // MARK: Run

    public func run(
        _ job: ClaimedJob, context: JobContext, next: (ClaimedJob, JobContext) async throws -> [UInt8]?
    ) async throws -> [UInt8]? {
        guard let tracer else { return try await next(job, context) }
        var parent = ServiceContext.topLevel
        if !job.metadata.isEmpty {
            tracer.extract(job.metadata, into: &parent, using: MetadataExtractor())
        }
        let span = tracer.startSpan("process \(job.queue)", context: parent, ofKind: .consumer)
        span.updateAttributes { attributes in
            attributes["messaging.system"] = Self.messagingSystem
            attributes["messaging.destination.name"] = job.queue
            attributes["messaging.operation.type"] = "process"
            attributes["messaging.operation.name"] = "process"
            attributes["messaging.message.id"] = job.id.description
            attributes["spool.job.kind"] = job.kind
            attributes["spool.job.attempt"] = job.attempt
        }
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context) { try await next(job, context) }
        } catch let snooze as Snooze {
            // Not a failure: the job runs again later without spending an attempt.
            span.addEvent(SpanEvent(name: "snoozed", attributes: ["spool.job.snooze_s": .double(snooze.delay.seconds)]))
            throw snooze
        } catch {
            Self.fail(span, error)
            throw error
        }
    }

    // MARK: Attributes

    private static func describe(_ attributes: inout SpanAttributes, _ job: NewJob, operation: String) {
        attributes["messaging.system"] = messagingSystem
        attributes["messaging.destination.name"] = job.queue
        attributes["messaging.operation.type"] = operation
        attributes["messaging.operation.name"] = operation
        attributes["messaging.message.id"] = job.id.description
        attributes["spool.job.kind"] = job.kind
    }

    private static func fail(_ span: any Span, _ error: any Error) {
        span.recordError(error)
        span.attributes["error.type"] = String(reflecting: type(of: error))
        span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    }
}

/// Writes a tracer's fields into a job's metadata.
package struct MetadataInjector: Injector {
    package init() {}

    package func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads a tracer's fields from a job's metadata.
package struct MetadataExtractor: Extractor {
    package init() {}

    package func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
