import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Spool

/// One queue's job counts by state, and whether it is paused: a row of `spool stats` and
/// `spool queues list`.
struct QueueSummary: Sendable {
    var name: String
    var paused: Bool
    var counts: [JobState: Int]

    var total: Int { counts.values.reduce(0, +) }

    /// One summary per queue that has jobs or is paused, by name.
    static func all(_ stats: StorageStats, paused: Set<String>) -> [QueueSummary] {
        Set(stats.queues.keys).union(paused).sorted().map { name in
            QueueSummary(name: name, paused: paused.contains(name), counts: stats.queues[name] ?? [:])
        }
    }

    /// The counts of every state, zeros included, as JSON members.
    static func countMembers(_ counts: [JobState: Int]) -> [(String, JSONOut)] {
        JobState.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) } + [("total", .int(counts.values.reduce(0, +)))]
    }

    var json: JSONOut {
        .object([("name", .string(name)), ("paused", .bool(paused))] + Self.countMembers(counts))
    }

    /// The table of `summaries`: one row per queue, then (when `totals`) a row adding them up.
    static func table(_ summaries: [QueueSummary], pausedColumn: Bool, totals: Bool) -> TextTable {
        let states = JobState.allCases
        var header = ["QUEUE"]
        if pausedColumn { header.append("PAUSED") }
        header += states.map { $0.rawValue.uppercased() } + ["TOTAL"]
        let firstNumber = pausedColumn ? 2 : 1
        var table = TextTable(header: header, rightAligned: Set(firstNumber..<header.count))
        func row(_ name: String, _ paused: String?, _ counts: [JobState: Int]) -> [String] {
            [name] + (paused.map { [$0] } ?? []) + states.map { Format.grouped(counts[$0] ?? 0) } + [Format.grouped(counts.values.reduce(0, +))]
        }
        for summary in summaries {
            table.rows.append(row(summary.name, pausedColumn ? (summary.paused ? "yes" : "no") : nil, summary.counts))
        }
        if totals {
            var all: [JobState: Int] = [:]
            for summary in summaries { all.merge(summary.counts, uniquingKeysWith: +) }
            table.rows.append(row("(all)", pausedColumn ? "" : nil, all))
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
                let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                    services: [.init(service: watcher, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "spool.stats")],
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
        return QueueSummary.all(try await stats, paused: try await paused)
    }

    /// Turns readings into text or JSON.
    struct Renderer: Sendable {
        let url: StorageURL
        let json: Bool

        func snapshot(_ summaries: [QueueSummary], at time: Date, watching interval: Duration?) -> String {
            if json {
                var all: [JobState: Int] = [:]
                for summary in summaries { all.merge(summary.counts, uniquingKeysWith: +) }
                return JSONOut.object([
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
