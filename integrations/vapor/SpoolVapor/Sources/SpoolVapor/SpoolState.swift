// SpoolState: what `app.spool` keeps for one application (its settings, and the service group
// that runs from boot to shutdown).

import Logging
import ServiceLifecycle
import Spool
import Synchronization
import Vapor

/// The state behind `app.spool`: one per application, made when `app.spool` is first used.
///
/// Settings change only while the application is being configured; ``start(_:)`` (at boot)
/// freezes them and starts the services, ``stop(logger:)`` (at shutdown) drains and awaits them.
final class SpoolState: Sendable {
    struct Settings: Sendable {
        var storage: (any JobStorage)?
        var client: SpoolClient?
        var workerConfiguration = WorkerConfiguration()
        /// One configuration per `startInProcessWorkers` call.
        var inProcessWorkers: [WorkerConfiguration] = []
        var schedules: [PeriodicSchedule] = []
        /// Set by `startScheduler`: the scheduler then runs in-process.
        var schedulerLeadership: (any LeadershipGate)?
        /// Other services to run from boot to shutdown (a dashboard mount, say), in order.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var phase = Phase.configuring
    }

    enum Phase: Sendable, Equatable {
        case configuring, running, stopped
    }

    /// The services running since boot, and the task that runs them.
    struct Running: Sendable {
        let group: ServiceGroup
        let task: Task<Void, Never>
    }

    let registry = JobRegistry()
    let settings: Mutex<Settings>
    private let running = Mutex<Running?>(nil)

    /// - Parameter booted: true when the application has already booted (its server runs):
    ///   configuration is then refused, since nothing would start it.
    init(booted: Bool) {
        var settings = Settings()
        if booted { settings.phase = .running }
        self.settings = Mutex(settings)
    }

    /// Changes the settings, or throws when the application has already booted.
    func configure<T>(_ what: String, _ change: (inout Settings) throws -> T) throws -> T {
        try settings.withLock { settings in
            guard settings.phase == .configuring else {
                throw SpoolError(
                    code: .invalidArgument,
                    message: "\(what) must be called before the application boots (in configure(_:)); it has already booted"
                )
            }
            return try change(&settings)
        }
    }

    /// The client, or an error naming the missing `use(_:)`.
    func client() throws -> SpoolClient {
        guard let client = settings.withLock({ $0.client }) else {
            throw SpoolError(
                code: .storageUnavailable, message: "no job storage configured: call app.spool.use(_:) in configure(_:)")
        }
        return client
    }

    /// The services to run from boot: the storage and the scheduler's leadership when they are
    /// services, the extra services, and, when `inProcess`, the in-process workers and
    /// scheduler.
    static func services(
        _ settings: Settings, registry: JobRegistry, inProcess: Bool, logger: Logger
    ) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        guard let storage = settings.storage else {
            if inProcess, !settings.inProcessWorkers.isEmpty || settings.schedulerLeadership != nil {
                throw SpoolError(
                    code: .storageUnavailable,
                    message: "in-process workers or a scheduler were started without job storage: call app.spool.use(_:) in configure(_:)"
                )
            }
            return settings.services
        }
        // Services stop in reverse order: the storage first in the list, so it stops last.
        if let service = storage as? any Service {
            services.append(.init(service: service, serviceName: "spool.storage"))
        }
        // `spool work` uses the leadership too, so it runs whenever there are schedules.
        let leadership = settings.schedulerLeadership
        if !settings.schedules.isEmpty, let service = leadership as? any Service {
            services.append(.init(service: service, serviceName: "spool.leadership"))
        }
        services += settings.services
        guard inProcess else { return services }
        for (index, configuration) in settings.inProcessWorkers.enumerated() {
            let worker = Worker(storage: storage, registry: registry, configuration: configuration, logger: logger)
            services.append(.init(service: worker, serviceName: "spool.worker.\(index)"))
        }
        if let leadership, !settings.schedules.isEmpty {
            let scheduler = try PeriodicScheduler(
                storage: storage, schedules: settings.schedules, leadership: leadership, registry: registry, logger: logger)
            services.append(.init(service: scheduler, serviceName: "spool.scheduler"))
        }
        return services
    }

    /// Starts the services (see ``services(_:registry:inProcess:logger:)``) in a service group
    /// whose task ``stop()`` awaits. A service that fails or returns before ``stop()`` stops the
    /// group and the application (a web app whose workers died must not go on as if they ran).
    func start(_ application: Application, inProcess: Bool) throws {
        let logger = application.logger
        let (services, drain) = try settings.withLock { settings in
            guard settings.phase == .configuring else {
                throw SpoolError(code: .invalidArgument, message: "Spool's services were already started for this application")
            }
            let services = try Self.services(settings, registry: registry, inProcess: inProcess, logger: logger)
            settings.phase = .running
            let drain = settings.inProcessWorkers.map(\.drainTimeout).max() ?? .zero
            return (services, drain)
        }
        guard !services.isEmpty else { return }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [], logger: logger)
        // Past their drain timeout the workers cancel their jobs themselves; this is the backstop.
        configuration.maximumGracefulShutdownDuration = drain + .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        let task = Task {
            var failure: (any Error)?
            do {
                try await group.run()
            } catch {
                failure = error
            }
            guard failure != nil || self.settings.withLock({ $0.phase }) != .stopped else { return }
            logger.critical(
                "Spool's services stopped before the application shut down; stopping the application",
                metadata: ["spool.error": "\(failure.map { "\($0)" } ?? "a service returned")"])
            application.running?.stop()
        }
        running.withLock { $0 = Running(group: group, task: task) }
    }

    /// Shuts the services down gracefully (workers stop claiming and let running jobs finish
    /// up to their drain timeout) and waits until they have stopped.
    func stop() async {
        settings.withLock { $0.phase = .stopped }
        guard
            let running = running.withLock({ running in
                defer { running = nil }
                return running
            })
        else { return }
        await running.group.triggerGracefulShutdown()
        await running.task.value
    }
}
