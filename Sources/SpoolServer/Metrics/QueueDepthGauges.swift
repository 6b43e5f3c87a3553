import Prometheus
import Spool
import Synchronization

/// The `spool_queue_depth{queue, state}` and `spool_queue_paused{queue}` gauges, refreshed from
/// `storage.stats()` at every scrape of `/metrics`.
///
/// A queue that disappears from the counts keeps its gauges at zero rather than vanishing, so a
/// graph drops to zero instead of leaving a stale last value.
final class QueueDepthGauges: Sendable {
    static var depth: MetricNameDescriptor { MetricNameDescriptor(metricName: "spool_queue_depth", unitName: "", helpText: "Jobs in each queue by state, as stored.") }
    static var paused: MetricNameDescriptor { MetricNameDescriptor(metricName: "spool_queue_paused", unitName: "", helpText: "1 when the queue is paused, else 0.") }

    private let registry: PrometheusCollectorRegistry
    /// The queues seen so far (their gauges exist).
    private let known = Mutex<Set<String>>([])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Sets every gauge from `stats` and `paused`.
    func update(stats: StorageStats, paused: Set<String>) {
        let queues = known.withLock { known in
            known.formUnion(stats.queues.keys)
            known.formUnion(paused)
            return known
        }
        for queue in queues {
            let counts = stats.queues[queue] ?? [:]
            for state in JobState.allCases {
                registry.makeGauge(descriptor: Self.depth, labels: [("queue", queue), ("state", state.rawValue)])
                    .set(to: Double(counts[state] ?? 0))
            }
            registry.makeGauge(descriptor: Self.paused, labels: [("queue", queue)]).set(to: paused.contains(queue) ? 1.0 : 0.0)
        }
    }
}
