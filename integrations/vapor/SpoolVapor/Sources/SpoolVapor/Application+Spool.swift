import Logging
import ServiceLifecycle
import Spool
import Vapor

extension Application {
    /// Spool in this application: its storage, job kinds, client, in-process workers and
    /// schedules (as `app.queues` is for vapor/queues).
    ///
    /// ```swift
    /// // configure.swift
    /// try app.spool.use(SQLiteStorage(path: "jobs.sqlite"))
    /// app.spool.register(SendEmail.self, options: JobOptions(maxAttempts: 5)) { email, context in
    ///     try await mailer.send(email)
    /// }
    /// try app.spool.startInProcessWorkers()
    /// ```
    /// The first use registers the lifecycle handler that starts Spool's services at boot and
    /// drains them at shutdown, and the `spool` command (``SpoolCommand``), unless a command of
    /// that name exists.
    public var spool: Spool {
        Spool(application: self)
    }

    /// See ``Vapor/Application/spool``. A cheap view of the application's Spool state; share it freely.
    public struct Spool: Sendable {
        /// The application this configures.
        public let application: Application

        struct Key: StorageKey, LockKey {
            typealias Value = SpoolState
        }

        /// The application's state, made (with its lifecycle handler and command) on first use.
        var state: SpoolState {
            application.locks.lock(for: Key.self).withLock {
                if let state = application.storage[Key.self] { return state }
                // First used while the server runs: the app booted without Spool's lifecycle
                // handler, so nothing configured now would ever start; refuse it instead.
                let state = SpoolState(booted: application.running != nil)
                application.storage[Key.self] = state
                application.lifecycle.use(SpoolLifecycle(state: state))
                if application.asyncCommands.commands["spool"] == nil, application.commands.commands["spool"] == nil {
                    application.asyncCommands.use(SpoolCommand(), as: "spool")
                }
                return state
            }
        }

        /// Stores jobs in `storage`: memory, SQLite, PostgreSQL, Redis, or any `JobStorage`.
        ///
        /// A storage that is a `Service` (the PostgreSQL and Redis drivers: their connections,
        /// listeners and maintenance) is run from boot to shutdown, for every command, and
        /// stopped after the workers. Call it once, in `configure(_:)`.
        /// - Throws: `SpoolError` `invalidArgument` once the application has booted.
        public func use(_ storage: any JobStorage) throws {
            let registry = state.registry
            try state.configure("app.spool.use(_:)") { settings in
                settings.storage = storage
                settings.client = SpoolClient(storage: storage, registry: registry)
            }
        }

        /// The storage given to ``use(_:)``, if any.
        public var storage: (any JobStorage)? {
            state.settings.withLock { $0.storage }
        }

        /// The job kinds this application runs: register every kind before the application
        /// boots (workers read the registry when they start).
        public var registry: JobRegistry {
            state.registry
        }

        /// Registers the handler of `P`'s kind (see `JobRegistry.register(_:options:handler:)`);
        /// registering a kind twice replaces the earlier handler.
        @inlinable
        public func register<P: JobParameters>(
            _ type: P.Type, options: JobOptions = JobOptions(),
            handler: @escaping @Sendable (P, JobContext) async throws -> Void
        ) {
            registry.register(type, options: options, handler: handler)
        }

        /// Registers the handler of `P`'s kind whose return value is stored as the job's result
        /// (JSON), for `handle.value`'s `result(as:)`.
        @inlinable
        public func register<P: JobParameters, R: Encodable & Sendable>(
            _ type: P.Type, options: JobOptions = JobOptions(),
            handler: @escaping @Sendable (P, JobContext) async throws -> R
        ) {
            registry.register(type, options: options, handler: handler)
        }

        /// Registers a handler of raw payload bytes for `kind` (a kind with no Swift type, such
        /// as one enqueued over HTTP by another language).
        public func register(
            kind: String, options: JobOptions = JobOptions(),
            handler: @escaping @Sendable (JobPayload, JobContext) async throws -> [UInt8]?
        ) {
            registry.register(kind: kind, options: options, handler: handler)
        }

        /// The client that enqueues jobs into the storage given to ``use(_:)``, with the
        /// registry's per-kind defaults. In a route, prefer `req.spool`, which logs with the
        /// request's logger and continues its trace.
        /// - Throws: `SpoolError` `storageUnavailable` when ``use(_:)`` was not called.
        public var client: SpoolClient {
            get throws { try state.client() }
        }

        /// The worker settings of ``startInProcessWorkers(configuration:)`` without an argument
        /// and of `spool work` (whose `--queues`, `--concurrency` and `--drain-timeout` override
        /// them). Default: `WorkerConfiguration()` (queue `default`, concurrency 10, drain 25 s).
        public var workerConfiguration: WorkerConfiguration {
            get { state.settings.withLock { $0.workerConfiguration } }
            nonmutating set { state.settings.withLock { $0.workerConfiguration = newValue } }
        }

        /// Runs a worker in this process from boot to shutdown, as vapor/queues'
        /// `startInProcessJobs()` does.
        ///
        /// The worker starts when the application boots (for every command but `spool`, which
        /// runs workers of its own) and, at shutdown, stops claiming, lets running jobs finish
        /// up to the configuration's drain timeout, hands the rest back (no attempt spent), and
        /// is awaited. Call it once per set of queues; each call adds a worker.
        /// - Parameter configuration: queues, concurrency, lease, drain timeout; nil for
        ///   ``workerConfiguration``.
        /// - Throws: `SpoolError` `invalidArgument` once the application has booted. Boot
        ///   fails with `storageUnavailable` when ``use(_:)`` was not called.
        public func startInProcessWorkers(configuration: WorkerConfiguration? = nil) throws {
            try state.configure("app.spool.startInProcessWorkers(configuration:)") { settings in
                settings.inProcessWorkers.append(configuration ?? settings.workerConfiguration)
            }
        }

        /// Adds a periodic schedule: a job enqueued at each tick of a cron expression or an
        /// interval (see `PeriodicSchedule`). Schedules run in-process after
        /// ``startScheduler(leadership:)``, and in `spool work`.
        /// - Throws: `SpoolError` `invalidArgument` for an empty or repeated name, a
        ///   non-positive interval, a job storage would refuse, or once the application has booted.
        public func schedule(_ schedule: PeriodicSchedule) throws {
            let registry = state.registry
            try state.configure("app.spool.schedule(_:)") { settings in
                let schedules = settings.schedules + [schedule]
                // The scheduler's own checks, on a store that is never used.
                _ = try PeriodicScheduler(storage: MemoryStorage(capacity: 1), schedules: schedules, registry: registry)
                settings.schedules = schedules
            }
        }

        /// Adds a periodic schedule named `name` (unique; it keys the ticks' jobs) that enqueues
        /// `job` at each tick of `timing`.
        ///
        /// ```swift
        /// try app.spool.schedule("nightly-cleanup", .cron(CronExpression("0 3 * * *")), job: ScheduledJob(Cleanup()))
        /// try app.spool.schedule("heartbeat", .every(.seconds(30)), job: ScheduledJob(Ping()))
        /// ```
        public func schedule(
            _ name: String, _ timing: PeriodicSchedule.Timing, job: ScheduledJob, missedTicks: MissedTickPolicy = .skip
        ) throws {
            try schedule(PeriodicSchedule(name, timing, job: job, missedTicks: missedTicks))
        }

        /// The schedules added so far, in order.
        public var schedules: [PeriodicSchedule] {
            state.settings.withLock { $0.schedules }
        }

        /// Runs the schedules in this process from boot to shutdown (a `PeriodicScheduler`), as
        /// vapor/queues' `startScheduledJobs()` does; not in `spool work`, which runs its own.
        ///
        /// Each tick is enqueued once across processes (its job id is derived from the schedule
        /// and the tick), so every instance of the application may run the scheduler;
        /// `leadership` saves the followers the work (a driver's leader election; when it is a
        /// `Service`, it runs from boot to shutdown too, and `spool work` uses it as well).
        /// - Throws: `SpoolError` `invalidArgument` once the application has booted.
        public func startScheduler(leadership: any LeadershipGate = AlwaysLeader()) throws {
            try state.configure("app.spool.startScheduler(leadership:)") { settings in
                settings.schedulerLeadership = leadership
            }
        }

        /// Runs `service` from boot to shutdown beside Spool's own (a dashboard mount).
        package func run(_ service: any ServiceLifecycle.Service, name: String) throws {
            try state.configure("app.spool: adding a service") { settings in
                settings.services.append(.init(service: service, serviceName: name))
            }
        }
    }
}
