import Metrics
import MetricsTestKit
import Spool
import SpoolTesting
import Testing

/// The process-wide test metrics backend, bootstrapped once (swift-metrics allows one bootstrap).
let testMetrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()

struct Metered: JobParameters {
    static let kind = "test.metered"
    var fail: Bool
}

@Suite("Metrics middleware")
struct MetricsTests {
    @Test func countsOutcomesDurationsAndEnqueues() async throws {
        let metrics = testMetrics
        let registry = JobRegistry()
        registry.register(Metered.self, options: JobOptions(queue: "metered", maxAttempts: 1)) { job, _ in
            if job.fail { throw ProbeError(message: "no") }
        }
        let storage = MemoryStorage()
        let middleware = MetricsMiddleware()  // made after the bootstrap, so it reports
        let client = SpoolClient(storage: storage, registry: registry, middleware: [middleware])
        let worker = Worker(
            storage: storage, registry: registry, configuration: WorkerConfiguration(queues: ["metered"]),
            middleware: [middleware]
        )
        let outcomes = try await withRunningWorker(worker) {
            try await JobHandle.values(try await client.enqueue([Metered(fail: false), Metered(fail: false), Metered(fail: true)]))
        }
        #expect(outcomes.map(\.state) == [.succeeded, .succeeded, .dead])
        let labels = [("queue", "metered"), ("kind", Metered.kind)]
        #expect(try metrics.expectCounter("spool_jobs_enqueued_total", labels).totalValue == 3)
        #expect(try metrics.expectCounter("spool_jobs_total", labels + [("outcome", "succeeded")]).totalValue == 2)
        #expect(try metrics.expectCounter("spool_jobs_total", labels + [("outcome", "dead")]).totalValue == 1)
        #expect(try metrics.expectTimer("spool_job_duration_seconds", labels).values.count == 3)
        #expect(try metrics.expectTimer("spool_queue_latency_seconds", [("queue", "metered")]).values.count == 3)
    }
}
