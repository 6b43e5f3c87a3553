import ArgumentParser
import Foundation
import Spool

/// `spool queues`: list queues, pause and resume them.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "List queues with their counts; pause or resume one.",
        discussion: """
            A paused queue keeps accepting jobs but workers claim none of them until it is \
            resumed; the flag is stored, so every process sharing the store sees it.

            Examples:
              spool queues list
              spool queues pause mail
              spool queues resume mail
            """,
        subcommands: [List.self, Pause.self, Resume.self],
        defaultSubcommand: List.self
    )

    /// `spool queues list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List each queue (with jobs, or paused): its job counts by state and whether it is paused.",
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
                        Terminal.printOutput(JSONOut.object([("queues", .array(summaries.map(\.json)))]).rendered)
                    } else if summaries.isEmpty {
                        Terminal.printOutput("no queues (no jobs stored and none paused)")
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
            guard !name.isEmpty else { throw CLIError("the queue name must not be empty") }
            try await database.withStorage(.existing) { opened in
                try await opened.storage.setPaused(paused, queue: name)
                if output.json {
                    Terminal.printOutput(JSONOut.object([("queue", .string(name)), ("paused", .bool(paused))]).rendered)
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
