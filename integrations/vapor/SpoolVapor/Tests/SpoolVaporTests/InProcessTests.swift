import AsyncHTTPClient
import Foundation
import ServiceLifecycle
import Spool
import SpoolVapor
import Testing
import Vapor

struct SendEmail: JobParameters, Content {
    static let kind = "test.send-email"
    var to: String
}

/// Waits until the worker's graceful shutdown begins (it has begun when this returns), then
/// returns: a job that only ends because the application drained it.
struct OutlastShutdown: JobParameters {
    static let kind = "test.outlast-shutdown"
}

/// Never ends on its own.
struct Hang: JobParameters {
    static let kind = "test.hang"
}

struct Tick: JobParameters {
    static let kind = "test.tick"
}

@Suite("Spool in a running Vapor application: routes, in-process workers, shutdown, schedules")
struct InProcessTests {
    @Test("a route enqueues with req.spool and answers 202 with the job id; the in-process worker runs the job")
    func routeEnqueuesAndWorkerRuns() async throws {
        let sent = Events<String>()
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            app.spool.register(SendEmail.self, options: JobOptions(queue: "mail")) { email, _ in sent.record(email.to) }
            try app.spool.startInProcessWorkers(configuration: WorkerConfiguration(queues: ["mail"]))
            app.post("emails") { req async throws -> Response in
                let handle = try await req.spool.enqueue(try req.content.decode(SendEmail.self))
                return try await ["job_id": "\(handle.id)"].encodeResponse(status: .accepted, for: req)
            }
            app.post("emails", "batch") { req async throws -> Response in
                let handles = try await req.spool.enqueue(try req.content.decode([SendEmail].self))
                return try await handles.map { "\($0.id)" }.encodeResponse(status: .accepted, for: req)
            }
        } _: { app, port in
            let reply = try await send(.POST, "/emails", port: port, json: #"{"to": "ada@example.com"}"#)
            #expect(reply.status == .accepted, "\(reply.text)")
            let text = try #require(try reply.json()["job_id"] as? String)
            let id = try #require(JobID(text), "a job id: \(text)")
            _ = try await sent.first("the email job to run") { $0 == "ada@example.com" }
            let outcome = try await within(.seconds(30), "the job's outcome") { try await app.spool.client.handle(id).value }
            #expect(outcome.succeeded)
            #expect(outcome.record.queue == "mail", "the registered queue applies")

            let batch = try await send(.POST, "/emails/batch", port: port, json: #"[{"to": "b@example.com"}, {"to": "c@example.com"}]"#)
            #expect(batch.status == .accepted, "\(batch.text)")
            let ids = try JSONDecoder().decode([String].self, from: Data(batch.text.utf8)).map { JobID($0) }
            #expect(ids.count == 2)
            let handles = try ids.map { try app.spool.client.handle(try #require($0)) }
            let outcomes = try await within(.seconds(30), "the batch's outcomes") { try await JobHandle.values(handles) }
            #expect(outcomes.allSatisfy { $0.succeeded })
            #expect(Set(sent.all) == ["ada@example.com", "b@example.com", "c@example.com"])
        }
    }

    @Test("app shutdown drains: a running job finishes, and asyncShutdown returns only after its outcome is stored")
    func shutdownDrainsRunningJob() async throws {
        let storage = MemoryStorage()
        let events = Events<String>()
        try await withRunningApp { app in
            try app.spool.use(storage)
            app.spool.register(OutlastShutdown.self) { _, _ in
                events.record("started")
                // Suspends until the service group's graceful shutdown begins: the handler runs
                // in the worker's task tree, so it sees the same shutdown.
                try await gracefulShutdown()
                events.record("shutdown seen")
            }
            try app.spool.startInProcessWorkers()
        } _: { app, _ in
            let handle = try await app.spool.client.enqueue(OutlastShutdown())
            _ = try await events.first("the job to start") { $0 == "started" }
            try await app.asyncShutdown()
            #expect(events.all == ["started", "shutdown seen"])
            let record = try #require(try await storage.job(handle.id))
            #expect(record.state == .succeeded, "stored before asyncShutdown returned: \(record.state)")
            #expect(record.attempt == 1)
        }
    }

    @Test("past the drain timeout a running job is cancelled and handed back, no attempt spent")
    func drainTimeoutHandsBack() async throws {
        let storage = MemoryStorage()
        let started = Events<Bool>()
        try await withRunningApp { app in
            try app.spool.use(storage)
            app.spool.register(Hang.self) { _, _ in
                started.record(true)
                try await Task.sleep(for: .seconds(3600))
            }
            try app.spool.startInProcessWorkers(configuration: WorkerConfiguration(drainTimeout: .milliseconds(200)))
        } _: { app, _ in
            let handle = try await app.spool.client.enqueue(Hang())
            _ = try await started.first("the job to start")
            try await app.asyncShutdown()
            let record = try #require(try await storage.job(handle.id))
            #expect(record.state == .available, "handed back at once: \(record.state)")
            #expect(record.attempt == 0, "the cancelled run is not counted")
        }
    }

    @Test("a schedule started with startScheduler enqueues its ticks, and the in-process worker runs them")
    func scheduleFires() async throws {
        let ticks = Events<String>()
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            app.spool.register(Tick.self) { _, context in ticks.record(context.metadata["spool.schedule"] ?? "?") }
            try app.spool.schedule("every-100ms", .every(.milliseconds(100)), job: ScheduledJob(Tick()))
            try app.spool.startScheduler()
            try app.spool.startInProcessWorkers()
        } _: { app, _ in
            let schedule = try await ticks.first("a tick's job to run")
            #expect(schedule == "every-100ms")
            let late = try #require(throws: SpoolError.self) {
                try app.spool.schedule("late", .every(.seconds(1)), job: ScheduledJob(Tick()))
            }
            #expect(late.message.contains("before the application boots"), "\(late.message)")
        }
    }

    @Test("configuration is refused once the application has booted, and a missing storage is an error, not a trap")
    func misuseIsRefused() async throws {
        try await withRunningApp { app in
            app.post("enqueue") { req async throws -> HTTPStatus in
                try await req.spool.enqueue(Tick())
                return .accepted
            }
        } _: { app, port in
            let late = try #require(throws: SpoolError.self) { try app.spool.startInProcessWorkers() }
            #expect(late.code == .invalidArgument)
            #expect(late.message.contains("before the application boots"), "\(late.message)")
            #expect(throws: SpoolError.self) { try app.spool.use(MemoryStorage()) }
            let missing = try #require(throws: SpoolError.self) { try app.spool.client }
            #expect(missing.code == .storageUnavailable)
            #expect(try await send(.POST, "/enqueue", port: port).status == .internalServerError)
        }
        let app = try await Application.make(.testing)
        try app.spool.startInProcessWorkers()
        await #expect(throws: SpoolError.self, "boot fails: workers without storage") { try await app.asyncBoot() }
        try await app.asyncShutdown()
    }

    @Test("schedules are checked when added: a repeated name is refused naming it")
    func schedulesAreChecked() async throws {
        let app = try await Application.make(.testing)
        try app.spool.schedule("tick", .every(.seconds(1)), job: ScheduledJob(Tick()))
        let error = try #require(throws: SpoolError.self) { try app.spool.schedule("tick", .every(.seconds(5)), job: ScheduledJob(Tick())) }
        #expect(error.message.contains("'tick'"), "\(error.message)")
        #expect(app.spool.schedules.map(\.name) == ["tick"])
        try await app.asyncShutdown()
    }

    @Test("a service of Spool's that fails stops the application (a web app must not go on without its workers)")
    func failingServiceStopsTheApp() async throws {
        struct Broken: Error {}
        struct FailsAtOnce: Service {
            func run() async throws { throw Broken() }
        }
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            try app.spool.run(FailsAtOnce(), name: "test.fails")
        } _: { app, _ in
            let running = try #require(app.running, "serve sets running")
            try await within(.seconds(30), "the application to stop") { try await running.onStop.get() }
        }
    }
}
