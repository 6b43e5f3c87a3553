import Foundation
import Spool
import SpoolSQLite
import SpoolVapor
import SpoolVaporDashboard
import Vapor

/// Configures Spool and the routes.
///
/// Storage: `SPOOL_DATABASE_URL`, `sqlite:PATH` (default `sqlite:spool.sqlite`) or `memory:`.
/// `SPOOL_IN_PROCESS=0` leaves the in-process worker and scheduler off;
/// `SPOOL_EXAMPLE_HEARTBEAT_SECONDS=N` adds a schedule that ticks every N seconds.
func configure(_ app: Application) async throws {
    let url = Environment.get("SPOOL_DATABASE_URL") ?? "sqlite:spool.sqlite"
    if url == "memory:" {
        try app.spool.use(MemoryStorage())
    } else if url.hasPrefix("sqlite:") {
        try app.spool.use(SQLiteStorage(path: String(url.dropFirst("sqlite:".count))))
    } else {
        throw SpoolError(code: .invalidArgument, message: "SPOOL_DATABASE_URL must be sqlite:PATH or memory: (got '\(url)')")
    }

    app.spool.register(SendEmail.self, options: JobOptions(queue: "mail", maxAttempts: 5)) { email, context in
        context.logger.info("sending email", metadata: ["to": "\(email.to)", "subject": "\(email.subject)"])
    }
    app.spool.register(Nap.self) { nap, _ in
        // Not cancelled by a graceful shutdown: the worker lets it finish (up to the drain timeout).
        try await Task.sleep(for: .milliseconds(nap.milliseconds))
    }
    app.spool.register(Cleanup.self) { _, context in
        context.logger.info("nightly cleanup")
    }
    try app.spool.schedule("nightly-cleanup", .cron(CronExpression("0 3 * * *")), job: ScheduledJob(Cleanup()))
    app.spool.register(Heartbeat.self) { _, context in
        context.logger.info("heartbeat", metadata: ["tick": "\(context.metadata["spool.schedule.tick"] ?? "?")"])
    }
    if let seconds = Environment.get("SPOOL_EXAMPLE_HEARTBEAT_SECONDS").flatMap(Int.init), seconds > 0 {
        try app.spool.schedule("heartbeat", .every(.seconds(seconds)), job: ScheduledJob(Heartbeat()))
    }

    // `spool work` reads these too (its options override them).
    app.spool.workerConfiguration = WorkerConfiguration(queues: ["default", "mail"], concurrency: 10)
    if Environment.get("SPOOL_IN_PROCESS") != "0" {
        try app.spool.startInProcessWorkers()
        try app.spool.startScheduler()
    }
    try app.spool.mountDashboard(at: "spool")

    app.post("emails") { req async throws -> Response in
        let email = try req.content.decode(SendEmail.self)
        let handle = try await req.spool.enqueue(email)
        return try await ["job_id": "\(handle.id)"].encodeResponse(status: .accepted, for: req)
    }
    app.get("jobs", ":id") { req async throws -> [String: String] in
        guard let id = req.parameters.get("id").flatMap(JobID.init), let record = try await req.spool.handle(id).record() else {
            throw Abort(.notFound)
        }
        return ["state": record.state.rawValue, "attempt": "\(record.attempt)"]
    }
}
