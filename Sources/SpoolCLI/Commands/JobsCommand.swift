import ArgumentParser
import Foundation
import Spool
import SpoolServer

/// `spool jobs`: inspect and steer individual jobs.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List, show, retry, cancel or delete jobs.",
        discussion: """
            Examples:
              spool jobs list --state dead,cancelled --queue mail
              spool jobs show 01KAPG3Z2M0000000000000001
              spool jobs retry 01KAPG3Z2M0000000000000001 01KAPG3Z2M0000000000000002
            """,
        subcommands: [List.self, Show.self, Retry.self, Cancel.self, Delete.self],
        defaultSubcommand: List.self
    )

    /// Parses job ids given on the command line; the first bad one fails the whole command
    /// before anything is done.
    static func parseIDs(_ texts: [String]) throws -> [JobID] {
        try texts.map { text in
            guard let id = JobID(text) else {
                throw CLIError("'\(text)' is not a job id (26 base-32 characters, as `spool jobs list` prints them)")
            }
            return id
        }
    }

    // MARK: list

    /// `spool jobs list`: one page of jobs, newest first, and the cursor of the next page.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List jobs, newest first, a page at a time.",
            discussion: """
                Filters combine: --state takes a comma-separated list of pending, scheduled, \
                available, running, succeeded, dead, cancelled. When more jobs match than --limit, the last \
                line gives the cursor of the next page (with --json: "next_cursor", null on the \
                last page).

                Examples:
                  spool jobs list
                  spool jobs list --state dead --kind send-invoice --limit 100
                  spool jobs list --cursor 01KAPG3Z2M0000000000000001 --json
                """
        )

        @Option(help: ArgumentHelp("Only jobs in these states (comma-separated).", valueName: "states"))
        var state: String?

        @Option(help: ArgumentHelp("Only jobs of this queue.", valueName: "name"))
        var queue: String?

        @Option(help: ArgumentHelp("Only jobs of this kind.", valueName: "kind"))
        var kind: String?

        @Option(help: ArgumentHelp("The most jobs to print (1 to 10,000).", valueName: "n"))
        var limit = 50

        @Option(help: ArgumentHelp("Start after this job id (the cursor printed by the previous page).", valueName: "id"))
        var cursor: String?

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                var states: Set<JobState>?
                if let state {
                    states = Set(
                        try ArgumentValues.list(state).map { name in
                            guard let state = JobState(rawValue: name.lowercased()) else {
                                let known = JobState.allCases.map(\.rawValue).joined(separator: ", ")
                                throw CLIError("unknown state '\(name)': expected one or more of \(known)")
                            }
                            return state
                        })
                }
                guard (1...10_000).contains(limit) else { throw CLIError("--limit must be from 1 to 10,000 (got \(limit))") }
                let after = try cursor.map { try JobsCommand.parseIDs([$0])[0] }
                let filter = JobFilter(states: states, queue: queue, kind: kind)
                try await database.withStorage(.existing) { opened in
                    let page = try await opened.storage.jobs(filter, after: after, limit: limit)
                    if output.json {
                        Terminal.printOutput(
                            JSONValue.object([
                                ("jobs", .array(page.jobs.map(APIJSON.jobSummary))),
                                ("next_cursor", .string(page.nextCursor?.description)),
                            ]).rendered)
                        return
                    }
                    if page.jobs.isEmpty {
                        Terminal.printOutput(after == nil ? "no jobs match" : "no more jobs")
                        return
                    }
                    var table = TextTable(
                        header: ["ID", "STATE", "KIND", "QUEUE", "PRI", "ATTEMPT", "CREATED", "LAST ERROR"], rightAligned: [4, 5])
                    for job in page.jobs {
                        table.rows.append([
                            job.id.description, job.state.rawValue, job.kind, job.queue, String(job.priority),
                            "\(job.attempt)/\(job.maxAttempts)", TimeText.short(job.createdAt),
                            job.lastError.map { truncated($0.message, 48) } ?? "",
                        ])
                    }
                    Terminal.printOutput(table.rendered)
                    if let next = page.nextCursor {
                        Terminal.printOutput("next cursor: \(next)  (spool jobs list --cursor \(next))")
                    }
                }
            }
        }
    }

    // MARK: show

    /// `spool jobs show ID`: everything stored about one job.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show everything stored about one job.",
            discussion: """
                Examples:
                  spool jobs show 01KAPG3Z2M0000000000000001
                  spool jobs show 01KAPG3Z2M0000000000000001 --json | jq .errors
                """
        )

        @Argument(help: "The job's id.")
        var id: String

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                let id = try JobsCommand.parseIDs([id])[0]
                try await database.withStorage(.existing) { opened in
                    guard let job = try await opened.storage.job(id) else { throw CLIError("no job has id \(id)") }
                    if output.json {
                        Terminal.printOutput(APIJSON.job(job).rendered)
                    } else {
                        Terminal.printOutput(Self.describe(job))
                    }
                }
            }
        }

        /// The job as aligned `field  value` lines, then its error history.
        static func describe(_ job: JobRecord) -> String {
            var fields: [(String, String)] = [
                ("id", job.id.description), ("kind", job.kind), ("queue", job.queue), ("state", job.state.rawValue),
                ("priority", String(job.priority)), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
                ("run at", RFC3339.format(job.runAt)), ("created at", RFC3339.format(job.createdAt)),
            ]
            if let at = job.attemptedAt { fields.append(("attempted at", RFC3339.format(at))) }
            if let at = job.finishedAt { fields.append(("finished at", RFC3339.format(at))) }
            if let owner = job.leaseOwner {
                fields.append(("lease", owner + (job.leaseExpiresAt.map { " until \(RFC3339.format($0))" } ?? "")))
            }
            if let key = job.uniqueKey { fields.append(("unique key", key)) }
            if let timeout = job.timeout { fields.append(("timeout", TimeText.duration(timeout))) }
            if let progress = job.progress {
                fields.append(("progress", "\(Int((progress.fraction * 100).rounded()))%" + (progress.message.map { " \($0)" } ?? "")))
            }
            if job.expiredLeases > 0 { fields.append(("expired leases", String(job.expiredLeases))) }
            fields.append(("payload", Self.text(of: (try? job.payload.encoded()) ?? [])))
            if let result = job.result { fields.append(("result", Self.text(of: result))) }
            for (key, value) in job.metadata.sorted(by: { $0.key < $1.key }) { fields.append(("meta \(key)", value)) }
            var lines = alignedFields(fields)
            if !job.errors.isEmpty {
                lines.append("")
                var table = TextTable(header: ["ATTEMPT", "AT", "REASON", "MESSAGE"], rightAligned: [0])
                for error in job.errors {
                    table.rows.append([String(error.attempt), RFC3339.format(error.at), error.reason, oneLine(error.message)])
                }
                lines.append(table.rendered)
            }
            return lines.joined(separator: "\n")
        }

        /// Stored bytes on one line: JSON minified, else their text, else their size.
        private static func text(of bytes: [UInt8]) -> String {
            switch JSONValue.embedding(bytes) {
            case .raw(let json): return json
            case .string(let text): return oneLine(text)
            default: return "<\(bytes.count) bytes, not text>"
            }
        }
    }

    // MARK: retry, cancel, delete

    /// What an operator action does, for the three commands that act on job ids.
    enum Action: String, Sendable {
        case retry, cancel, delete

        var pastTense: String {
            switch self {
            case .retry: return "retried"
            case .cancel: return "cancelled"
            case .delete: return "deleted"
            }
        }

        /// Why a job was not acted on, from its current state.
        func refusal(_ state: JobState) -> String {
            switch self {
            case .retry:
                if state == .dead || state == .cancelled { return "was not retried: another live job holds its unique key" }
                return "is \(state.rawValue) (only dead or cancelled jobs can be retried)"
            case .cancel: return "is \(state.rawValue) (only pending, scheduled, available or running jobs can be cancelled)"
            case .delete: return "is \(state.rawValue)"
            }
        }

        func perform(_ ids: [JobID], on storage: any JobStorage) async throws -> [JobID] {
            switch self {
            case .retry: return try await storage.retry(ids, now: Date())
            case .cancel: return try await storage.cancel(ids, now: Date())
            case .delete: return try await storage.delete(ids)
            }
        }
    }

    /// Runs `action` on `texts` (job ids): prints what was done; when some jobs were not acted
    /// on, says why in one error line and exits with 1.
    static func act(_ action: Action, on texts: [String], database: DatabaseOptions, output: OutputOptions) async throws {
        try await reportingErrors {
            var ids: [JobID] = []
            for id in try parseIDs(texts) where !ids.contains(id) { ids.append(id) }
            try await database.withStorage(.existing) { opened in
                let done = Set(try await action.perform(ids, on: opened.storage))
                var skipped: [(JobID, JobState?)] = []
                for id in ids where !done.contains(id) {
                    skipped.append((id, try await opened.storage.job(id)?.state))
                }
                if output.json {
                    Terminal.printOutput(
                        JSONValue.object([
                            ("action", .string(action.rawValue)),
                            ("done", .array(ids.filter(done.contains).map { .string($0.description) })),
                            (
                                "skipped",
                                .array(
                                    skipped.map { id, state in
                                        .object([("id", .string(id.description)), ("state", .string(state?.rawValue))])
                                    })
                            ),
                        ]).rendered)
                } else {
                    for id in ids where done.contains(id) { Terminal.printOutput("\(action.pastTense) \(id)") }
                }
                guard !skipped.isEmpty else { return }
                let reasons = skipped.map { id, state in
                    state.map { "\(id) \(action.refusal($0))" } ?? "\(id) not found"
                }
                throw CLIError("\(skipped.count) of \(ids.count) job(s) not \(action.pastTense): " + reasons.joined(separator: "; "))
            }
        }
    }

    /// `spool jobs retry ID...`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make dead or cancelled jobs available again, with a fresh budget of attempts.",
            discussion: """
                Jobs in other states are left alone and named in an error line (exit code 1); \
                the others are still retried.

                Example:
                  spool jobs retry 01KAPG3Z2M0000000000000001 01KAPG3Z2M0000000000000002
                """
        )
        @Argument(help: "The jobs' ids.") var ids: [String]
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await JobsCommand.act(.retry, on: ids, database: database, output: output)
        }
    }

    /// `spool jobs cancel ID...`.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel jobs that have not finished (a running job's outcome is then discarded).",
            discussion: """
                Finished jobs are left alone and named in an error line (exit code 1); the others \
                are still cancelled.

                Example:
                  spool jobs cancel 01KAPG3Z2M0000000000000001
                """
        )
        @Argument(help: "The jobs' ids.") var ids: [String]
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await JobsCommand.act(.cancel, on: ids, database: database, output: output)
        }
    }

    /// `spool jobs delete ID...`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete jobs in any state (a running job's worker loses its lease).",
            discussion: """
                Example:
                  spool jobs delete 01KAPG3Z2M0000000000000001
                """
        )
        @Argument(help: "The jobs' ids.") var ids: [String]
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await JobsCommand.act(.delete, on: ids, database: database, output: output)
        }
    }
}
