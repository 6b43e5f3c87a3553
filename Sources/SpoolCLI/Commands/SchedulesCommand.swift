import ArgumentParser
import Foundation
import Spool
import SpoolServer

/// `spool schedules`: the periodic jobs of a settings file and their next runs.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules",
        abstract: "List the periodic jobs of a settings file with their next runs.",
        discussion: """
            Schedules live in the settings file of `spool serve` (--config FILE or SPOOL_CONFIG), \
            under "schedules": each has a unique name, either a cron expression ("cron": five \
            fields, or six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly; \
            "time_zone", UTC by default) or an interval ("every_s"), a job "kind" and optional \
            "payload", "queue", "priority", "max_attempts", and "missed": "skip" (the default: \
            ticks missed while no process ran are not run) or "catch_up_once" (one run for them \
            all). `spool serve` enqueues each tick once across every process sharing the store \
            (one elected process on PostgreSQL and Redis; each tick's job carries a unique key).

            Example settings:
              {"schedules": [
                 {"name": "nightly-report", "cron": "0 3 * * *", "time_zone": "Europe/Berlin",
                  "kind": "http", "payload": {"url": "https://example.com/report"}},
                 {"name": "heartbeat", "every_s": 60, "kind": "spool.noop"}]}

            Examples:
              spool schedules --config serve.json
              spool schedules --config serve.json --count 3 --json
            """
    )

    @Option(help: ArgumentHelp("The settings file (default: $SPOOL_CONFIG).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("How many next runs to show per schedule.", valueName: "n"))
    var count = 3

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            guard (1...100).contains(count) else { throw CLIError("--count must be from 1 to 100 (got \(count))") }
            let environment = ProcessInfo.processInfo.environment
            guard config != nil || environment[ServeConfigFile.environmentKey].map({ !$0.isEmpty }) == true else {
                throw CLIError("no settings file: pass --config FILE or set \(ServeConfigFile.environmentKey)")
            }
            let schedules = try ServeConfigFile.load(flag: config, environment: environment).schedules
            let now = Date()
            let rows = schedules.map { ($0, $0.upcoming(after: now, count: count)) }
            if output.json {
                Terminal.printOutput(
                    JSONValue.object([
                        (
                            "schedules",
                            .array(
                                rows.map { schedule, next in
                                    JSONValue.object([
                                        ("name", .string(schedule.name)), ("timing", .string(schedule.timing.description)),
                                        ("kind", .string(schedule.job.kind)), ("queue", schedule.job.queue.map { .string($0) } ?? .null),
                                        ("missed", .string(schedule.missedTicks.description)),
                                        ("next", .array(next.map { JSONValue.time($0) })),
                                    ])
                                })
                        )
                    ]).rendered)
            } else if rows.isEmpty {
                Terminal.printOutput("no schedules in the settings file")
            } else {
                var table = TextTable(header: ["name", "timing", "kind", "missed", "next runs (UTC)"])
                table.rows = rows.map { schedule, next in
                    [
                        schedule.name, schedule.timing.description, schedule.job.kind, schedule.missedTicks.description,
                        next.map { RFC3339.format($0) }.joined(separator: ", "),
                    ]
                }
                Terminal.printOutput(table.rendered)
            }
        }
    }
}
