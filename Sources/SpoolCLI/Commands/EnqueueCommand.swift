import ArgumentParser
import Foundation
import Spool
import SpoolServer

/// `spool enqueue KIND --payload JSON`: stores one job and prints its id and state.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Store one job and print its id and state.",
        discussion: """
            The payload must be well-formed JSON (RFC 8259): a malformed payload is refused with \
            one error line and nothing is stored. Kinds under the reserved spool. prefix must be \
            built-in ones (spool.noop, spool.sleep, spool.echo, spool.fail) with a payload that \
            fits them. When a live job (scheduled, available or running) already holds the \
            --unique-key, nothing is stored and that job is named instead (exit code 0; with \
            --json, "existing": true). The command returns once the job is committed to the store.

            Examples:
              spool enqueue spool.sleep --payload '{"ms": 500}'
              spool enqueue send-invoice --payload '{"invoice": 42}' --queue billing
              spool enqueue spool.noop --delay 60 --unique-key nightly-2026-01-01 --json
              spool enqueue spool.noop --run-at 2026-12-24T18:00:00+01:00
            """
    )

    @Argument(help: "The job's kind (the registered job name that picks the handler).")
    var kind: String

    // `.unconditional`: a payload or priority may start with '-' (`--payload -1`, `--priority -5`).
    @Option(parsing: .unconditional, help: ArgumentHelp("The job's parameters as JSON.", valueName: "json"))
    var payload = "{}"

    @Option(help: ArgumentHelp("The queue (default: default).", valueName: "name"))
    var queue: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Higher runs first within the queue (default 0; may be negative).", valueName: "n"))
    var priority: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Run no earlier than this many seconds from now.", valueName: "seconds"))
    var delay: Double?

    @Option(help: ArgumentHelp("While a live job holds this key, enqueue nothing and name that job.", valueName: "key"))
    var uniqueKey: String?

    @Option(
        help: ArgumentHelp(
            "Run no earlier than this RFC 3339 time, from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (not with --delay).",
            valueName: "time"
        ))
    var runAt: String?

    @Option(help: ArgumentHelp("The most runs before the job is dead (default 20).", valueName: "n"))
    var maxAttempts: Int?

    @Option(help: ArgumentHelp("The time limit of one attempt, in seconds.", valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            // Everything about the job is checked before the store is opened: a bad enqueue
            // neither creates a file nor touches one.
            let bytes = Array(payload.utf8)
            do throws(JSONSyntaxError) {
                _ = try JSONParser.parse(bytes)
            } catch {
                throw CLIError("the payload is not valid JSON: \(error.located(in: bytes))")
            }
            guard !kind.isEmpty else { throw CLIError("the kind must not be empty") }
            try BuiltinJobs.validate(kind: kind, payload: bytes)
            if let queue, queue.isEmpty { throw CLIError("--queue must not be empty") }
            if let maxAttempts, maxAttempts < 1 { throw CLIError("--max-attempts must be at least 1 (got \(maxAttempts))") }
            if runAt != nil && delay != nil { throw CLIError("--run-at and --delay cannot both be given: give one or the other") }
            let runAtDate = try runAt.map { text in
                guard let date = RFC3339.parse(text) else {
                    throw CLIError("--run-at must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got '\(text)')")
                }
                do {
                    return try JobInput.runAt(date, field: "--run-at")
                } catch let error as SpoolError {
                    throw CLIError(error.message)
                }
            }
            let options = EnqueueOptions(
                queue: queue, priority: priority, runAt: runAtDate, delay: try delay.map { try ArgumentValues.seconds($0, "--delay") },
                uniqueKey: uniqueKey, maxAttempts: maxAttempts,
                timeout: try timeout.map { try ArgumentValues.seconds($0, "--timeout", allowZero: false) }
            )
            let url = try StorageURL.resolve(flag: database.url)
            if url == .memory {
                throw CLIError(
                    "memory: keeps jobs only inside one process, so a job enqueued by this command would be lost when it exits; use sqlite:PATH"
                )
            }
            let opened = try url.open(.create)
            defer { opened.close() }
            try await opened.whileRunning { opened in
                let client = SpoolClient(storage: opened.storage, registry: BuiltinJobs.registry(), middleware: [])
                let handle = try await client.enqueue(kind: kind, payload: bytes, options: options)
                let record = try await handle.record()
                if output.json {
                    Terminal.printOutput(
                        JSONValue.object([
                            ("id", .string(handle.id.description)), ("state", .string(handle.initialState.rawValue)),
                            ("existing", .bool(handle.existing)),
                        ]).rendered)
                } else if handle.existing {
                    let state = record?.state ?? handle.initialState
                    Terminal.printOutput("unique key '\(uniqueKey ?? "")' is held by job \(handle.id) (\(state.rawValue)): nothing stored")
                } else {
                    var line = "\(handle.id)  \(handle.initialState.rawValue)  \(kind) in queue '\(record?.queue ?? queue ?? "default")'"
                    if handle.initialState == .scheduled, let runAt = record?.runAt { line += ", runs at \(TimeText.short(runAt))" }
                    Terminal.printOutput(line)
                }
            }
        }
    }
}
