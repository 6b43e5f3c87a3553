import Prometheus
import Spool
import Synchronization

/// The `spool_queue_depth{queue, state}` and `spool_queue_paused{queue}` gauges, refreshed from
/// `storage.stats()` at every scrape of `/metrics`.
///
/// Bounded, whatever clients name their queues:
/// - At most ``maximumQueues`` queues get series of their own. A queue keeps its series while it
///   exists; new queues take free places in name order. The others (and a queue actually named
///   `other`) share one set of series with `queue="other"`: their depths summed by state, and
///   `spool_queue_paused{queue="other"}` counting how many of them are paused. So the two
///   metrics never have more than ``maximumSeries`` series together.
/// - The series of a queue that is gone (no jobs left in any state, not paused) are removed at
///   the next scrape, freeing its place, so series do not pile up as queues come and go.
final class QueueDepthGauges: Sendable {
    static var depth: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "spool_queue_depth", unitName: "", helpText: "Jobs in each queue by state, as stored.")
    }
    static var paused: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "spool_queue_paused", unitName: "",
            helpText: "1 when the queue is paused, else 0 (for queue=\"other\": how many of the queues folded into it are paused).")
    }

    /// The most queues with series of their own: 100.
    static let maximumQueues = 100
    /// The label value shared by the queues past ``maximumQueues``.
    static let otherLabel = "other"
    /// The most series of both metrics together: one per state and one paused gauge, for each
    /// of ``maximumQueues`` queues and `other`.
    static var maximumSeries: Int { (maximumQueues + 1) * (JobState.allCases.count + 1) }

    private struct State {
        /// The queues with series of their own.
        var labelled: Set<String> = []
        /// The gauges of each label value: one per state, then the paused gauge.
        var gauges: [String: [Gauge]] = [:]
    }

    private let registry: PrometheusCollectorRegistry
    private let state = Mutex(State())

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Sets every gauge from `stats` and `paused`, removing those of queues that are gone.
    func update(stats: StorageStats, paused: Set<String>) {
        // A queue with no jobs (a store may still list it, with zero counts) that is not paused
        // is gone: its series go.
        let present = Set(stats.queues.compactMap { $0.value.values.contains { $0 > 0 } ? $0.key : nil }).union(paused)
        state.withLock { state in
            state.labelled.formIntersection(present)
            for queue in present.subtracting(state.labelled).sorted() where state.labelled.count < Self.maximumQueues {
                if queue != Self.otherLabel { state.labelled.insert(queue) }
            }
            var counts: [String: [JobState: Int]] = [:]
            var pausedCounts: [String: Int] = [:]
            for queue in present {
                let label = state.labelled.contains(queue) ? queue : Self.otherLabel
                for (jobState, count) in stats.queues[queue] ?? [:] {
                    counts[label, default: [:]][jobState, default: 0] += count
                }
                pausedCounts[label, default: 0] += paused.contains(queue) ? 1 : 0
            }
            for (label, gauges) in state.gauges where pausedCounts[label] == nil {
                for gauge in gauges { registry.unregisterGauge(gauge) }
                state.gauges[label] = nil
            }
            for (label, pausedCount) in pausedCounts {
                let gauges = state.gauges[label] ?? makeGauges(label)
                state.gauges[label] = gauges
                for (index, jobState) in JobState.allCases.enumerated() {
                    gauges[index].set(to: Double(counts[label]?[jobState] ?? 0))
                }
                gauges[JobState.allCases.count].set(to: Double(pausedCount))
            }
        }
    }

    /// The gauges of `label`: one per state, then the paused gauge.
    private func makeGauges(_ label: String) -> [Gauge] {
        JobState.allCases.map { registry.makeGauge(descriptor: Self.depth, labels: [("queue", label), ("state", $0.rawValue)]) }
            + [registry.makeGauge(descriptor: Self.paused, labels: [("queue", label)])]
    }
}
