import ArgumentParser
import Foundation
import Spool
import SpoolServer

/// `spool queues`: list queues, pause and resume them, set their limits.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "List queues with their counts; pause or resume one; limit how fast it runs.",
        discussion: """
            A paused queue keeps accepting jobs but workers claim none of them until it is \
            resumed. Limits cap a queue across every worker: at most N of its jobs running at \
            once, and at most N started per sliding window. Both are stored, so every process \
            sharing the store sees them.

            Examples:
              spool queues list
              spool queues pause mail
              spool queues resume mail
              spool queues limit mail --max-running 5 --rate 100/1m
              spool queues limit mail --clear
            """,
        subcommands: [List.self, Pause.self, Resume.self, Limit.self],
        defaultSubcommand: List.self
    )

    /// `spool queues list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List each queue (with jobs, paused or limited): its job counts by state, whether it is paused, its limits.",
            discussion: """
                Examples:
                  spool queues list
                  spool queues list --json
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                try await database.withStorage(.existing) { opened in
                    let summaries = try await StatsCommand.read(opened.storage)
                    if output.json {
                        Terminal.printOutput(JSONValue.object([("queues", .array(summaries.map(\.json)))]).rendered)
                    } else if summaries.isEmpty {
                        Terminal.printOutput("no queues (no jobs stored, none paused or limited)")
                    } else {
                        Terminal.printOutput(QueueSummary.table(summaries, pausedColumn: true, totals: false).rendered)
                    }
                }
            }
        }
    }

    /// Pauses or resumes `name` and prints the outcome.
    static func setPaused(_ paused: Bool, queue name: String, database: DatabaseOptions, output: OutputOptions) async throws {
        try await reportingErrors {
            let name = try ArgumentValues.queueName(name)
            try await database.withStorage(.existing) { opened in
                try await opened.storage.setPaused(paused, queue: name)
                if output.json {
                    Terminal.printOutput(JSONValue.object([("queue", .string(name)), ("paused", .bool(paused))]).rendered)
                } else if paused {
                    Terminal.printOutput("paused queue '\(name)': workers claim none of its jobs until `spool queues resume \(name)`")
                } else {
                    Terminal.printOutput("resumed queue '\(name)'")
                }
            }
        }
    }

    /// `spool queues pause NAME`.
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a queue: it keeps accepting jobs, workers claim none (running jobs finish).",
            discussion: "Example:\n  spool queues pause mail"
        )
        @Argument(help: "The queue's name.") var name: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await QueuesCommand.setPaused(true, queue: name, database: database, output: output)
        }
    }

    /// `spool queues limit NAME`.
    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a queue's limits across every worker: at most N running, at most N starts per period.",
            discussion: """
                The options given replace the queue's limits (an option left out means no such \
                limit); --clear removes them. Jobs already running are not stopped; claims from \
                then on honour the new limits. A rate is COUNT/PERIOD with a unit: 100/s, \
                10/1m, 5/30s, 1000/1h (a sliding window: at most COUNT claims in any PERIOD).

                Examples:
                  spool queues limit mail --max-running 5
                  spool queues limit webhooks --rate 100/1m
                  spool queues limit mail --clear
                """
        )
        @Argument(help: "The queue's name.") var name: String
        @Option(name: .customLong("max-running"), help: "At most this many of the queue's jobs running at once, cluster-wide.")
        var maxRunning: Int?
        @Option(help: "At most COUNT starts per PERIOD, like 100/1m.") var rate: String?
        @Flag(help: "Remove the queue's limits.") var clear = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                let name = try ArgumentValues.queueName(name)
                if clear && (maxRunning != nil || rate != nil) { throw CLIError("--clear removes every limit: give it alone") }
                if !clear && maxRunning == nil && rate == nil { throw CLIError("say --max-running N, --rate COUNT/PERIOD, or --clear") }
                let limits = QueueLimits(maxRunning: maxRunning, rate: try rate.map { try QueueLimits.Rate(parsing: $0) })
                try limits.validate()
                try await database.withStorage(.existing) { opened in
                    try await opened.storage.setLimits(limits, queue: name)
                    if output.json {
                        Terminal.printOutput(JSONValue.object([("queue", .string(name)), ("limits", APIJSON.limits(limits))]).rendered)
                    } else {
                        Terminal.printOutput("queue '\(name)': \(limits)")
                    }
                }
            }
        }
    }

    /// `spool queues resume NAME`.
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused queue.",
            discussion: "Example:\n  spool queues resume mail"
        )
        @Argument(help: "The queue's name.") var name: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await QueuesCommand.setPaused(false, queue: name, database: database, output: output)
        }
    }
}
