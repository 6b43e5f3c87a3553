import Foundation
import InMemoryTracing
import Spool
import SpoolTesting
import Synchronization
import Testing
import Tracing

struct Traced: JobParameters {
    static let kind = "test.traced"
    var n: Int
}

/// Fails its first attempt, succeeds on the second.
struct Flaky: JobParameters {
    static let kind = "test.flaky"
}

struct FlakyError: Error, CustomStringConvertible {
    var description: String { "first attempt fails" }
}

@Suite("Tracing", .timeLimit(.minutes(1)))
struct TracingTests {
    /// Runs `body` with a worker over `storage` tracing to `tracer`, then stops it.
    static func withWorker(
        _ storage: MemoryStorage, _ registry: JobRegistry, tracer: InMemoryTracer, queues: [String] = ["default"],
        also extra: [any JobMiddleware] = [], _ body: () async throws -> Void
    ) async throws {
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(queues: queues.map { WorkerQueue($0) }, concurrency: 2),
            middleware: [TracingMiddleware(tracer: tracer)] + extra)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            try await body()
            worker.beginShutdown()
            try await group.waitForAll()
        }
    }

    static func string(_ span: FinishedInMemorySpan, _ key: String) -> String? {
        guard case .string(let value)? = span.attributes.get(key)?.toSpanAttribute() else { return nil }
        return value
    }

    static func int(_ span: FinishedInMemorySpan, _ key: String) -> Int64? {
        guard case .int64(let value)? = span.attributes.get(key)?.toSpanAttribute() else { return nil }
        return value
    }

    @Test func anEnqueuedJobsRunIsAChildOfItsProducerSpan() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Traced.self, options: JobOptions(queue: "mail")) { _, _ in }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [TracingMiddleware(tracer: tracer)])
        try await Self.withWorker(storage, registry, tracer: tracer, queues: ["mail"]) {
            let handle = try await client.enqueue(Traced(n: 1))
            #expect(try await handle.value.succeeded)
        }
        let spans = tracer.finishedSpans
        let producer = try #require(spans.first { $0.operationName == "send mail" })
        let consumer = try #require(spans.first { $0.operationName == "process mail" })
        #expect(producer.kind == .producer)
        #expect(consumer.kind == .consumer)
        #expect(producer.traceID == consumer.traceID, "one trace")
        #expect(consumer.parentSpanID == producer.spanID, "the run continues the producer's span")
        let id = try #require(try await storage.jobs(JobFilter(), after: nil, limit: 1).jobs.first?.id)
        for span in [producer, consumer] {
            #expect(Self.string(span, "messaging.system") == "spool")
            #expect(Self.string(span, "messaging.destination.name") == "mail")
            #expect(Self.string(span, "messaging.message.id") == id.description)
            #expect(Self.string(span, "spool.job.kind") == "test.traced")
        }
        #expect(Self.string(producer, "messaging.operation.type") == "send")
        #expect(Self.string(consumer, "messaging.operation.type") == "process")
        #expect(Self.string(consumer, "messaging.operation.name") == "process")
        #expect(Self.int(consumer, "spool.job.attempt") == 1)
        #expect(consumer.status == nil && consumer.errors.isEmpty)
        // The context travels in the job's metadata, through the tracer's own propagation.
        let metadata = try #require(try await storage.job(id)?.metadata)
        #expect(metadata[InMemoryTracer.spanIDKey] == producer.spanID)
        #expect(metadata[InMemoryTracer.traceIDKey] == producer.traceID)
    }

    @Test func eachAttemptIsASpanOfItsOwnUnderTheSameParentWithTheErrorRecorded() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let attempts = Atomic<Int>(0)
        registry.register(Flaky.self, options: JobOptions(retry: .fixed(.milliseconds(1)))) { _, _ in
            if attempts.wrappingAdd(1, ordering: .relaxed).newValue == 1 { throw FlakyError() }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [TracingMiddleware(tracer: tracer)])
        try await Self.withWorker(storage, registry, tracer: tracer) {
            let outcome = try await client.enqueue(Flaky()).value
            #expect(outcome.succeeded)
        }
        let producer = try #require(tracer.finishedSpans.first { $0.kind == .producer })
        let runs = tracer.finishedSpans.filter { $0.kind == .consumer }.sorted {
            (Self.int($0, "spool.job.attempt") ?? 0) < (Self.int($1, "spool.job.attempt") ?? 0)
        }
        #expect(runs.count == 2)
        #expect(runs.map { Self.int($0, "spool.job.attempt") } == [1, 2])
        #expect(runs.allSatisfy { $0.traceID == producer.traceID && $0.parentSpanID == producer.spanID })
        #expect(runs[0].spanID != runs[1].spanID)
        #expect(runs[0].status?.code == .error)
        #expect(runs[0].errors.count == 1)
        #expect(runs[0].errors.first?.error is FlakyError)
        #expect(Self.string(runs[0], "error.type")?.hasSuffix("FlakyError") == true)
        #expect(runs[1].status == nil && runs[1].errors.isEmpty)
    }

    /// Records the span context current when each outcome is reported.
    final class OutcomeContexts: JobMiddleware {
        let seen = EventRecorder<(JobID, InMemorySpanContext?)>()
        func didRun(_ report: JobRunReport) {
            seen.record((report.job.id, ServiceContext.current?.inMemorySpanContext))
        }
    }

    @Test("an outcome is reported inside its run's span (so its log line carries the run's trace and span ids), with or without a timeout")
    func outcomesAreReportedInTheRunSpan() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Traced.self) { _, _ in }
        let outcomes = OutcomeContexts()
        let client = SpoolClient(storage: storage, registry: registry)
        try await Self.withWorker(storage, registry, tracer: tracer, also: [outcomes]) {
            let plain = try await client.enqueue(Traced(n: 1))
            let timed = try await client.enqueue(Traced(n: 2), options: EnqueueOptions(timeout: .seconds(30)))
            _ = try await JobHandle.values([plain, timed])
        }
        let seen = try await outcomes.seen.waitForCount(2)
        for (id, context) in seen {
            let run = try #require(tracer.finishedSpans.first { Self.string($0, "messaging.message.id") == id.description })
            #expect(context?.spanID == run.spanID, "job \(id)")
            #expect(context?.traceID == run.traceID, "job \(id)")
        }
    }

    @Test func aBatchHasACreateSpanPerJobAndOneSendSpanLinkedToThem() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Traced.self) { _, _ in }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [TracingMiddleware(tracer: tracer)])
        try await Self.withWorker(storage, registry, tracer: tracer) {
            let handles = try await client.enqueue([Traced(n: 1), Traced(n: 2), Traced(n: 3)])
            #expect(try await JobHandle.values(handles).allSatisfy(\.succeeded))
        }
        let spans = tracer.finishedSpans
        let creates = spans.filter { $0.operationName == "create default" }
        let send = try #require(spans.first { $0.operationName == "send default" })
        let runs = spans.filter { $0.operationName == "process default" }
        #expect(creates.count == 3 && runs.count == 3)
        #expect(creates.allSatisfy { $0.kind == .producer })
        #expect(send.kind == .client)
        #expect(Self.int(send, "messaging.batch.message_count") == 3)
        #expect(Set(send.links.compactMap { $0.context.inMemorySpanContext?.spanID }) == Set(creates.map(\.spanID)))
        // Each run is the child of its own job's create span.
        #expect(Set(runs.compactMap(\.parentSpanID)) == Set(creates.map(\.spanID)))
        for run in runs {
            let create = try #require(creates.first { $0.spanID == run.parentSpanID })
            #expect(Self.string(create, "messaging.message.id") == Self.string(run, "messaging.message.id"))
        }
    }

    @Test func aJobThatCarriesAContextKeepsItAndItsProducerSpanIsItsChild() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let caller = ["in-memory-trace-id": "caller-trace", "in-memory-span-id": "caller-span"]
        let client = SpoolClient(storage: storage, middleware: [TracingMiddleware(tracer: tracer)])
        let handle = try await client.enqueue(Traced(n: 1), options: EnqueueOptions(metadata: caller))
        let producer = try #require(tracer.finishedSpans.first)
        #expect(producer.traceID == "caller-trace" && producer.parentSpanID == "caller-span")
        #expect(try await handle.record()?.metadata == caller, "the caller's context is kept")
    }

    @Test func aStorageFailureIsRecordedOnTheSendSpan() async throws {
        let tracer = InMemoryTracer()
        let client = SpoolClient(storage: MemoryStorage(), middleware: [TracingMiddleware(tracer: tracer)])
        await #expect(throws: SpoolError.self) {
            _ = try await client.enqueue(Traced(n: 1), options: EnqueueOptions(queue: ""))
        }
        let send = try #require(tracer.finishedSpans.first)
        #expect(send.status?.code == .error)
        #expect(send.errors.first?.error is SpoolError)
    }

    @Test func withoutATracerTheMiddlewareIsDisabledAndTouchesNothing() async throws {
        let middleware = TracingMiddleware(tracer: NoOpTracer())
        #expect(!middleware.isEnabled)
        // No tracer is bootstrapped in the tests: the defaults hold no tracing middleware.
        #expect(TracingMiddleware.bootstrapped.isEmpty)
        #expect(!TracingMiddleware().isEnabled)
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Traced.self) { _, _ in }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [middleware])
        let handle = try await client.enqueue(Traced(n: 1))
        #expect(try await handle.record()?.metadata == [:])
        let worker = Worker(storage: storage, registry: registry, middleware: [middleware])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            #expect(try await handle.value.succeeded)
            worker.beginShutdown()
            try await group.waitForAll()
        }
    }

    @Test func aSnoozeIsNotAnError() async throws {
        let tracer = InMemoryTracer()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let runs = Atomic<Int>(0)
        registry.register(Flaky.self) { _, _ in
            if runs.wrappingAdd(1, ordering: .relaxed).newValue == 1 { throw Snooze(for: .milliseconds(1)) }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [TracingMiddleware(tracer: tracer)])
        try await Self.withWorker(storage, registry, tracer: tracer) {
            let outcome = try await client.enqueue(Flaky()).value
            #expect(outcome.succeeded)
        }
        let snoozed = try #require(tracer.finishedSpans.first { $0.kind == .consumer && !$0.events.isEmpty })
        #expect(snoozed.status == nil && snoozed.errors.isEmpty)
        #expect(snoozed.events.map(\.name) == ["snoozed"])
    }
}
