import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolServer

/// One queue's job counts by state, and whether it is paused: a row of `spool stats` and
/// `spool queues list`.
struct QueueSummary: Sendable {
    var name: String
    var paused: Bool
    var counts: [JobState: Int]
    var limits = QueueLimits.none

    var total: Int { counts.values.reduce(0, +) }

    /// One summary per queue that has jobs, is paused or has limits, by name.
    static func all(_ stats: StorageStats, paused: Set<String>, limits: [String: QueueLimits] = [:]) -> [QueueSummary] {
        Set(stats.queues.keys).union(paused).union(limits.keys).sorted().map { name in
            QueueSummary(name: name, paused: paused.contains(name), counts: stats.queues[name] ?? [:], limits: limits[name] ?? .none)
        }
    }

    /// Limits as a table cell: `5 running, 10/1m`, or `-`.
    static func limitsText(_ limits: QueueLimits) -> String {
        var parts: [String] = []
        if let maxRunning = limits.maxRunning { parts.append("\(maxRunning) running") }
        if let rate = limits.rate { parts.append("\(rate)") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// The counts of every state, zeros included, as JSON members.
    static func countMembers(_ counts: [JobState: Int]) -> [(String, JSONValue)] {
        JobState.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) } + [("total", .int(counts.values.reduce(0, +)))]
    }

    var json: JSONValue {
        .object([("name", .string(name)), ("paused", .bool(paused)), ("limits", APIJSON.limits(limits))] + Self.countMembers(counts))
    }

    /// The table of `summaries`: one row per queue, then (when `totals`) a row adding them up.
    static func table(_ summaries: [QueueSummary], pausedColumn: Bool, totals: Bool) -> TextTable {
        let states = JobState.allCases
        var header = ["QUEUE"]
        if pausedColumn { header += ["PAUSED", "LIMITS"] }
        header += states.map { $0.rawValue.uppercased() } + ["TOTAL"]
        let firstNumber = pausedColumn ? 3 : 1
        var table = TextTable(header: header, rightAligned: Set(firstNumber..<header.count))
        func row(_ name: String, _ settings: [String]?, _ counts: [JobState: Int]) -> [String] {
            [name] + (settings ?? []) + states.map { Format.grouped(counts[$0] ?? 0) } + [Format.grouped(counts.values.reduce(0, +))]
        }
        for summary in summaries {
            let settings = pausedColumn ? [summary.paused ? "yes" : "no", Self.limitsText(summary.limits)] : nil
            table.rows.append(row(summary.name, settings, summary.counts))
        }
        if totals {
            var all: [JobState: Int] = [:]
            for summary in summaries { all.merge(summary.counts, uniquingKeysWith: +) }
            table.rows.append(row("(all)", pausedColumn ? ["", ""] : nil, all))
        }
        return table
    }
}

/// `spool stats`: job counts by queue and state, once or refreshed in place.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Count jobs by queue and state.",
        discussion: """
            With --watch the counts are read again every --interval seconds until Ctrl-C: on a \
            terminal the table is redrawn in place; otherwise (and with --json, one object per \
            line) each reading is printed after the last.

            Examples:
              spool stats
              spool stats --watch --interval 0.5
              spool stats --json | jq .total.available
            """
    )

    @Flag(help: "Keep reading and redrawing the counts until interrupted.")
    var watch = false

    @Option(help: ArgumentHelp("Seconds between readings with --watch.", valueName: "seconds"))
    var interval = 1.0

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let interval = try ArgumentValues.seconds(self.interval, "--interval", allowZero: false)
            try await database.withStorage(.existing) { opened in
                let render = Renderer(url: opened.url, json: output.json)
                guard watch else {
                    Terminal.printOutput(render.snapshot(try await Self.read(opened.storage), at: Date(), watching: nil))
                    return
                }
                let watcher = Watcher(storage: opened.storage, interval: interval, renderer: render)
                let group = ServiceGroup(
                    configuration: ServiceGroupConfiguration(
                        services: [
                            .init(service: watcher, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "spool.stats")
                        ],
                        gracefulShutdownSignals: [.sigint, .sigterm],
                        logger: Logger(label: "spool.stats", factory: { _ in SwiftLogNoOpLogHandler() })
                    ))
                try await group.run()
            }
        }
    }

    static func read(_ storage: any JobStorage) async throws -> [QueueSummary] {
        async let stats = storage.stats()
        async let paused = storage.pausedQueues()
        async let limits = storage.queueLimits()
        return QueueSummary.all(try await stats, paused: try await paused, limits: try await limits)
    }

    /// Turns readings into text or JSON.
    struct Renderer: Sendable {
        let url: StorageURL
        let json: Bool

        func snapshot(_ summaries: [QueueSummary], at time: Date, watching interval: Duration?) -> String {
            if json {
                var all: [JobState: Int] = [:]
                for summary in summaries { all.merge(summary.counts, uniquingKeysWith: +) }
                return JSONValue.object([
                    ("database", .string(url.description)), ("time", .time(time)),
                    ("queues", .array(summaries.map(\.json))), ("total", .object(QueueSummary.countMembers(all))),
                ]).rendered
            }
            var text = QueueSummary.table(summaries, pausedColumn: false, totals: true).rendered
            if let interval {
                text = "\(url) at \(TimeText.short(time)), every \(TimeText.duration(interval)) (Ctrl-C to stop)\n" + text
            }
            return text
        }
    }

    /// The `--watch` loop, as a service so that SIGINT/SIGTERM end it cleanly.
    struct Watcher: Service {
        let storage: any JobStorage
        let interval: Duration
        let renderer: Renderer

        func run() async throws {
            let inPlace = !renderer.json && Terminal.stdoutIsTerminal
            try await cancelWhenGracefulShutdown {
                var previousLines = 0
                while !Task.isCancelled {
                    let text = renderer.snapshot(try await StatsCommand.read(storage), at: Date(), watching: interval)
                    if inPlace {
                        // Back to the first line of the previous drawing, then clear to the end.
                        let up = previousLines > 0 ? "\u{1B}[\(previousLines)F" : ""
                        Terminal.writeOutput(up + "\u{1B}[J" + text + "\n")
                        previousLines = text.split(separator: "\n", omittingEmptySubsequences: false).count
                    } else {
                        Terminal.printOutput(renderer.json ? text : text + "\n")
                    }
                    do {
                        try await Task.sleep(for: interval)
                    } catch {
                        return  // Ctrl-C: graceful shutdown cancelled the wait.
                    }
                }
            }
        }
    }
}
