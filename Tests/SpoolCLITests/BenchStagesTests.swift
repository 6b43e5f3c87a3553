import Foundation
import Testing

/// `spool bench --stages` breaks W4's wait into stages that add up to the jobs' latency.
@Suite("spool bench --stages", .timeLimit(.minutes(2)))
struct BenchStagesTests {
    @Test("W4 with --stages reports the enqueue call and four stages of the wait, p50 ≤ p90 ≤ p99 each, adding up to about the latency")
    func stages() async throws {
        try await withTemporaryFolder { folder in
            let run = try await spool(
                ["bench", "--driver", "memory", "--workload", "W4", "--jobs", "200", "--runs", "1", "--stages", "--json"], in: folder)
            #expect(run.status == 0, "\(run)")
            let report = try run.jsonObject()
            let row = try #require((report["results"] as? [[String: Any]])?.first, "\(run)")
            let stages = try #require(row["stages"] as? [[String: Any]], "\(row)")
            let names = stages.compactMap { $0["name"] as? String }
            #expect(
                names == [
                    "enqueue call (producer)", "until the claimer woke", "claimer woke → claim sent", "claim (round trip)",
                    "claim → handler start",
                ], "\(names)")
            for stage in stages {
                let (p50, p90, p99) = (stage["p50_ms"] as? Double ?? -1, stage["p90_ms"] as? Double ?? -1, stage["p99_ms"] as? Double ?? -1)
                #expect(0 <= p50 && p50 <= p90 && p90 <= p99, "\(stage)")
            }
            // The four stages of the path add up, job by job, to its latency: their p50s sum to
            // no more than the latency's p99 (a sum of medians is not the median of sums).
            let path = stages.dropFirst().compactMap { $0["p50_ms"] as? Double }.reduce(0, +)
            let p99 = try #require(row["p99_ms"] as? Double)
            #expect(path > 0 && path <= p99 + 0.001, "stages \(path) ms, latency p99 \(p99) ms")
            // Without the flag, no stages.
            let plain = try await spool(
                ["bench", "--driver", "memory", "--workload", "W4", "--jobs", "50", "--runs", "1", "--json"], in: folder)
            let plainRow = try #require((try plain.jsonObject()["results"] as? [[String: Any]])?.first, "\(plain)")
            #expect(plainRow["stages"] == nil, "\(plainRow)")
        }
    }
}
