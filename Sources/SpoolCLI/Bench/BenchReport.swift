import Foundation
import Spool

/// The figures of one workload, from one run or combined over several; nil where a figure does
/// not apply to the workload.
struct Figures: Sendable {
    var jobs: Int
    var jobsPerSecond: Double?
    var p50Milliseconds: Double?
    var p99Milliseconds: Double?
    /// The 99.9th percentile: at 2,000 samples (W4), the third-worst.
    var p999Milliseconds: Double?
    var maxMilliseconds: Double?
    var makespanSeconds: Double?
    var peakRSSMegabytes: Double?
    var bytesPerJob: Double?
    var finished: Int?
    var lost: Int?
    var twice: Int?
    /// W7's jobs/s over W3's, when both ran in one invocation.
    /// This workload's rate against another's in the same report (W7 and B2 against W3, B1
    /// against W2).
    var ratio: (base: Workload, value: Double)?
    /// W4 with `--stages`: where the jobs' wait went, stage by stage.
    var stages: [StageFigure]?

    init(jobs: Int) {
        self.jobs = jobs
    }

    /// Combines runs: the median of each rate, time and memory figure; for the exactly-once
    /// counts the worst run (fewest finished, most lost, most run twice), so that one bad run
    /// is never hidden by two good ones.
    static func combine(_ runs: [Figures]) -> Figures {
        precondition(!runs.isEmpty)
        var combined = Figures(jobs: runs[0].jobs)
        combined.jobsPerSecond = median(runs.map(\.jobsPerSecond))
        combined.p50Milliseconds = median(runs.map(\.p50Milliseconds))
        combined.p99Milliseconds = median(runs.map(\.p99Milliseconds))
        combined.p999Milliseconds = median(runs.map(\.p999Milliseconds))
        combined.maxMilliseconds = median(runs.map(\.maxMilliseconds))
        combined.makespanSeconds = median(runs.map(\.makespanSeconds))
        combined.peakRSSMegabytes = median(runs.map(\.peakRSSMegabytes))
        combined.bytesPerJob = median(runs.map(\.bytesPerJob))
        combined.finished = runs.compactMap(\.finished).min()
        combined.lost = runs.compactMap(\.lost).max()
        combined.twice = runs.compactMap(\.twice).max()
        combined.stages = StageFigure.combine(runs.map { $0.stages ?? [] })
        return combined
    }

    /// The median of the values present (the mean of the two middle ones for an even count).
    static func median(_ values: [Double?]) -> Double? {
        let sorted = values.compactMap { $0 }.sorted()
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Sets p50, p99, p99.9 and max from sorted latencies in milliseconds.
    mutating func setLatencies(_ sorted: [Double]) {
        p50Milliseconds = Self.percentile(50, ofSorted: sorted)
        p99Milliseconds = Self.percentile(99, ofSorted: sorted)
        p999Milliseconds = Self.percentile(99.9, ofSorted: sorted)
        maxMilliseconds = sorted.last
    }

    /// The nearest-rank percentile `p` (0...100) of sorted values.
    static func percentile(_ p: Double, ofSorted values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(values.count)).rounded(.up))
        return values[min(values.count - 1, max(0, rank - 1))]
    }
}

/// One workload's combined figures, as reported.
struct WorkloadResult: Sendable {
    let workload: Workload
    let figures: Figures
    /// The worker concurrency used, for workloads that run a worker.
    let concurrency: Int?
    let runs: Int

    /// The one line printed when the workload finishes.
    var line: String {
        let f = figures
        var parts = ["\(workload.rawValue)", "\(Format.grouped(f.jobs)) jobs"]
        if let value = f.jobsPerSecond { parts.append("\(Format.grouped(Int(value.rounded()))) jobs/s") }
        if let ratio = f.ratio { parts.append("\(Format.fixed(ratio.value, 2)) × \(ratio.base.rawValue)") }
        if let p50 = f.p50Milliseconds, let p99 = f.p99Milliseconds, let max = f.maxMilliseconds {
            let p999 = f.p999Milliseconds.map { "  p99.9 \(Format.fixed($0, 3)) ms" } ?? ""
            parts.append("p50 \(Format.fixed(p50, 3)) ms  p99 \(Format.fixed(p99, 3)) ms\(p999)  max \(Format.fixed(max, 3)) ms")
        }
        if let value = f.makespanSeconds { parts.append("makespan \(Format.fixed(value, 3)) s") }
        if let value = f.peakRSSMegabytes { parts.append("peak RSS \(Format.fixed(value, 1)) MiB") }
        if let value = f.bytesPerJob { parts.append("\(Format.grouped(Int(value.rounded()))) B/queued job") }
        if let finished = f.finished, let lost = f.lost, let twice = f.twice {
            parts.append("finished \(Format.grouped(finished)) lost \(lost) twice \(twice)")
        }
        var notes = ["median of \(runs)"]
        if let concurrency { notes.append("concurrency \(concurrency)") }
        return parts.joined(separator: "  ") + "  (" + notes.joined(separator: ", ") + ")"
    }

    /// With `--stages`: one indented line per stage of the jobs' wait.
    var stageLines: [String] {
        let width = (figures.stages ?? []).map(\.name.count).max() ?? 0
        return (figures.stages ?? []).map { stage in
            let name = stage.name.padding(toLength: width, withPad: " ", startingAt: 0)
            return "    \(name)  p50 \(Format.fixed(stage.p50Milliseconds, 3)) ms  p90 \(Format.fixed(stage.p90Milliseconds, 3)) ms  "
                + "p99 \(Format.fixed(stage.p99Milliseconds, 3)) ms"
        }
    }

    /// The JSON row: only the fields that apply, rounded to meaningful precision.
    var row: JSONRow {
        let f = figures
        return JSONRow(
            id: workload.rawValue, jobs: f.jobs,
            jobsPerSecond: f.jobsPerSecond.map { Int($0.rounded()) },
            p50Milliseconds: f.p50Milliseconds.map { round($0, 3) },
            p99Milliseconds: f.p99Milliseconds.map { round($0, 3) },
            p999Milliseconds: f.p999Milliseconds.map { round($0, 3) },
            maxMilliseconds: f.maxMilliseconds.map { round($0, 3) },
            makespanSeconds: f.makespanSeconds.map { round($0, 4) },
            peakRSSMegabytes: f.peakRSSMegabytes.map { round($0, 1) },
            bytesPerJob: f.bytesPerJob.map { Int($0.rounded()) },
            finished: f.finished, lost: f.lost, twice: f.twice,
            ratioToW2: f.ratio.flatMap { $0.base == .w2 ? round($0.value, 3) : nil },
            ratioToW3: f.ratio.flatMap { $0.base == .w3 ? round($0.value, 3) : nil },
            stages: f.stages.map { stages in
                stages.map {
                    JSONStage(
                        name: $0.name, p50Milliseconds: round($0.p50Milliseconds, 3), p90Milliseconds: round($0.p90Milliseconds, 3),
                        p99Milliseconds: round($0.p99Milliseconds, 3))
                }
            }
        )
    }

    private func round(_ value: Double, _ places: Int) -> Double {
        Double(Format.fixed(value, places)) ?? value
    }
}

/// A result row of `--json` (fields that do not apply are nil, and left out).
struct JSONRow: Encodable {
    var id: String
    var jobs: Int
    var jobsPerSecond: Int?
    var p50Milliseconds: Double?
    var p99Milliseconds: Double?
    var p999Milliseconds: Double?
    var maxMilliseconds: Double?
    var makespanSeconds: Double?
    var peakRSSMegabytes: Double?
    var bytesPerJob: Int?
    var finished: Int?
    var lost: Int?
    var twice: Int?
    var ratioToW2: Double?
    var ratioToW3: Double?
    var stages: [JSONStage]?

    enum CodingKeys: String, CodingKey {
        case id, jobs
        case jobsPerSecond = "jobs_per_s"
        case p50Milliseconds = "p50_ms"
        case p99Milliseconds = "p99_ms"
        case p999Milliseconds = "p999_ms"
        case maxMilliseconds = "max_ms"
        case makespanSeconds = "makespan_s"
        case peakRSSMegabytes = "peak_rss_mb"
        case bytesPerJob = "bytes_per_job"
        case finished, lost, twice
        case ratioToW2 = "ratio_to_w2"
        case ratioToW3 = "ratio_to_w3"
        case stages
    }
}

/// One stage of W4's wait in `--json` (`--stages`).
struct JSONStage: Encodable {
    var name: String
    var p50Milliseconds: Double
    var p90Milliseconds: Double
    var p99Milliseconds: Double

    enum CodingKeys: String, CodingKey {
        case name
        case p50Milliseconds = "p50_ms"
        case p90Milliseconds = "p90_ms"
        case p99Milliseconds = "p99_ms"
    }
}

/// The whole `--json` document: `{"driver", "cores", "results": [...]}`.
struct JSONReport: Encodable {
    var driver: String
    var cores: Int
    var results: [JSONRow]

    /// The report as one line of JSON. Keys are sorted so that the output is the same from
    /// run to run (the encoder promises no other order).
    func encoded() throws -> String {
        try JSONCoding.text(self)
    }
}

/// The closing table: one aligned row per workload, `-` where a figure does not apply.
func closingTable(_ results: [WorkloadResult], driver: String, cores: Int, runs: Int) -> String {
    let header = [
        "id", "jobs", "jobs/s", "ratio", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "makespan s", "peak RSS MiB", "B/job", "finished",
        "lost",
        "twice",
    ]
    func cell<T>(_ value: T?, _ text: (T) -> String) -> String { value.map(text) ?? "-" }
    var rows = [header]
    for result in results {
        let f = result.figures
        rows.append([
            result.workload.rawValue, Format.grouped(f.jobs),
            cell(f.jobsPerSecond) { Format.grouped(Int($0.rounded())) },
            cell(f.ratio) { "\(Format.fixed($0.value, 2)) × \($0.base.rawValue)" },
            cell(f.p50Milliseconds) { Format.fixed($0, 3) },
            cell(f.p99Milliseconds) { Format.fixed($0, 3) },
            cell(f.p999Milliseconds) { Format.fixed($0, 3) },
            cell(f.maxMilliseconds) { Format.fixed($0, 3) },
            cell(f.makespanSeconds) { Format.fixed($0, 3) },
            cell(f.peakRSSMegabytes) { Format.fixed($0, 1) },
            cell(f.bytesPerJob) { Format.grouped(Int($0.rounded())) },
            cell(f.finished) { Format.grouped($0) },
            cell(f.lost) { String($0) },
            cell(f.twice) { String($0) },
        ])
    }
    // Leave out the columns no workload of this report has.
    let kept = header.indices.filter { column in column < 2 || rows.dropFirst().contains { $0[column] != "-" } }
    rows = rows.map { row in kept.map { row[$0] } }
    var widths = [Int](repeating: 0, count: kept.count)
    for row in rows {
        for (column, text) in row.enumerated() { widths[column] = max(widths[column], text.count) }
    }
    var lines = ["driver \(driver), \(cores) cores, median of \(runs) run\(runs == 1 ? "" : "s")"]
    for (index, row) in rows.enumerated() {
        let cells = row.enumerated().map { column, text in
            let pad = String(repeating: " ", count: widths[column] - text.count)
            return column == 0 ? text + pad : pad + text
        }
        lines.append(cells.joined(separator: "  "))
        if index == 0 {
            lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        }
    }
    return lines.joined(separator: "\n")
}
