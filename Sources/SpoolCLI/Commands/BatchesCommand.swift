import ArgumentParser
import Foundation
import Spool
import SpoolServer

/// `spool batches`: inspect and cancel batches (on a store that keeps them).
struct BatchesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batches",
        abstract: "List, show or cancel batches of jobs.",
        discussion: """
            Examples:
              spool batches list
              spool batches show 01KAPG3Z2M0000000000000001
              spool batches cancel 01KAPG3Z2M0000000000000001
            """,
        subcommands: [List.self, Show.self, Cancel.self],
        defaultSubcommand: List.self
    )

    static func parseID(_ text: String) throws -> BatchID {
        guard let id = BatchID(text) else {
            throw CLIError("'\(text)' is not a batch id (26 base-32 characters, as `spool batches list` prints them)")
        }
        return id
    }

    /// The store's batches, or an error line saying the driver keeps none.
    static func batching(_ storage: any JobStorage) throws -> any JobBatching {
        guard let store = storage as? any JobBatching else {
            throw CLIError("this store does not keep batches (it does not conform to JobBatching)")
        }
        return store
    }

    /// "12 of 40 finished" with the counts that are not zero.
    static func progress(_ batch: BatchRecord) -> String {
        let finished = JobState.allCases.filter(\.isFinished).reduce(0) { $0 + batch.count($1) }
        return "\(finished) of \(batch.total) finished"
    }

    static func counts(_ batch: BatchRecord) -> String {
        JobState.allCases.filter { batch.count($0) > 0 }.map { "\($0.rawValue) \(batch.count($0))" }.joined(separator: ", ")
    }

    // MARK: list

    /// `spool batches list`: one page of batches, newest first.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List batches, newest first, a page at a time.",
            discussion: """
                When more batches exist than --limit, the last line gives the cursor of the next \
                page (with --json: "next_cursor", null on the last page).

                Examples:
                  spool batches list
                  spool batches list --limit 10 --json
                """
        )

        @Option(help: ArgumentHelp("The most batches to print (1 to 1,000).", valueName: "n"))
        var limit = 20

        @Option(help: ArgumentHelp("Start after this batch id (the cursor printed by the previous page).", valueName: "id"))
        var cursor: String?

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                guard (1...1_000).contains(limit) else { throw CLIError("--limit must be from 1 to 1,000 (got \(limit))") }
                let after = try cursor.map(BatchesCommand.parseID)
                try await database.withStorage(.existing) { opened in
                    let page = try await BatchesCommand.batching(opened.storage).batches(after: after, limit: limit)
                    if output.json {
                        Terminal.printOutput(
                            JSONValue.object([
                                ("batches", .array(page.batches.map(APIJSON.batch))),
                                ("next_cursor", .string(page.nextCursor?.description)),
                            ]).rendered)
                        return
                    }
                    if page.batches.isEmpty {
                        Terminal.printOutput(after == nil ? "no batches" : "no more batches")
                        return
                    }
                    var table = TextTable(header: ["ID", "STATE", "PROGRESS", "CREATED", "COUNTS"], rightAligned: [])
                    for batch in page.batches {
                        table.rows.append([
                            batch.id.description, batch.state.rawValue, BatchesCommand.progress(batch), TimeText.short(batch.createdAt),
                            BatchesCommand.counts(batch),
                        ])
                    }
                    Terminal.printOutput(table.rendered)
                    if let next = page.nextCursor {
                        Terminal.printOutput("next cursor: \(next)  (spool batches list --cursor \(next))")
                    }
                }
            }
        }
    }

    // MARK: show

    /// `spool batches show ID`: a batch, its callbacks and a page of its jobs.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a batch: its state, counts, callbacks and jobs.",
            discussion: """
                Examples:
                  spool batches show 01KAPG3Z2M0000000000000001
                  spool batches show 01KAPG3Z2M0000000000000001 --jobs 200 --json
                """
        )

        @Argument(help: "The batch's id.")
        var id: String

        @Option(help: ArgumentHelp("How many of its jobs to list, oldest first (0 to 10,000).", valueName: "n"))
        var jobs = 20

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                let id = try BatchesCommand.parseID(id)
                guard (0...10_000).contains(jobs) else { throw CLIError("--jobs must be from 0 to 10,000 (got \(jobs))") }
                try await database.withStorage(.existing) { opened in
                    let store = try BatchesCommand.batching(opened.storage)
                    guard let batch = try await store.batch(id) else { throw CLIError("no batch has id \(id)") }
                    let page = jobs == 0 ? JobPage(jobs: [], nextCursor: nil) : try await store.jobs(inBatch: id, after: nil, limit: jobs)
                    if output.json {
                        guard case .object(var members) = APIJSON.batch(batch) else { return }
                        members.append(("jobs", .array(page.jobs.map(APIJSON.jobSummary))))
                        members.append(("next_cursor", .string(page.nextCursor?.description)))
                        Terminal.printOutput(JSONValue.object(members).rendered)
                        return
                    }
                    Terminal.printOutput(Self.describe(batch, jobs: page))
                }
            }
        }

        static func describe(_ batch: BatchRecord, jobs page: JobPage) -> String {
            var fields: [(String, String)] = [
                ("id", batch.id.description), ("state", batch.state.rawValue), ("progress", BatchesCommand.progress(batch)),
                ("counts", BatchesCommand.counts(batch)), ("created at", RFC3339.format(batch.createdAt)),
            ]
            if let at = batch.finishedAt { fields.append(("finished at", RFC3339.format(at))) }
            if let at = batch.cancelledAt { fields.append(("cancelled at", RFC3339.format(at))) }
            for event in BatchEvent.allCases where batch.callbackEvents.contains(event) {
                fields.append(("on_\(event.rawValue)", batch.callbackJobs[event].map { "fired: job \($0)" } ?? "not fired"))
            }
            var lines = alignedFields(fields)
            if !page.jobs.isEmpty {
                lines.append("")
                var table = TextTable(header: ["ID", "STATE", "KIND", "QUEUE", "ATTEMPT", "LAST ERROR"], rightAligned: [])
                for job in page.jobs {
                    table.rows.append([
                        job.id.description, job.state.rawValue, job.kind, job.queue, "\(job.attempt)/\(job.maxAttempts)",
                        job.lastError.map { truncated($0.message, 48) } ?? "",
                    ])
                }
                lines.append(table.rendered)
                if page.nextCursor != nil { lines.append("… more jobs: raise --jobs, or spool jobs list") }
            }
            return lines.joined(separator: "\n")
        }
    }

    // MARK: cancel

    /// `spool batches cancel ID`.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a batch: its jobs that have not finished are cancelled (on_complete fires, on_success never).",
            discussion: """
                Example:
                  spool batches cancel 01KAPG3Z2M0000000000000001
                """
        )

        @Argument(help: "The batch's id.")
        var id: String

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                let id = try BatchesCommand.parseID(id)
                try await database.withStorage(.existing) { opened in
                    guard let cancelled = try await BatchesCommand.batching(opened.storage).cancelBatch(id, now: Date()) else {
                        throw CLIError("no batch has id \(id)")
                    }
                    if output.json {
                        Terminal.printOutput(
                            JSONValue.object([
                                ("id", .string(id.description)), ("cancelled", .array(cancelled.map { .string($0.description) })),
                            ]).rendered)
                    } else {
                        Terminal.printOutput("cancelled batch \(id): \(cancelled.count) job(s) cancelled")
                    }
                }
            }
        }
    }
}
