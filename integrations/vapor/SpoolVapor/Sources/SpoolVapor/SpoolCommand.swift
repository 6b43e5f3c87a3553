import ConsoleKit
import Foundation
import Logging
import ServiceLifecycle
import Spool
import Vapor

/// `swift run App spool …`: Spool's commands in a Vapor application, registered as `spool` the
/// first time `app.spool` is used (as vapor/queues registers `queues`).
///
/// - `spool work [--queues a,b] [--concurrency N] [--drain-timeout S] [--no-scheduler]`: see
///   ``SpoolWorkCommand``.
///
/// To register it under another name: `app.asyncCommands.use(SpoolCommand(), as: "jobs")`
/// before `app.spool` is first used.
public struct SpoolCommand: AsyncCommandGroup {
    public init() {}

    /// `work`: ``SpoolWorkCommand``.
    public var commands: [String: any AnyAsyncCommand] {
        ["work": SpoolWorkCommand()]
    }

    /// The group's line in `swift run App --help`.
    public var help: String {
        "Spool's background jobs: `work` runs workers (and the schedules) until SIGTERM or SIGINT."
    }
}

/// `spool work`: runs a worker over the application's job storage and registry, and its
/// schedules, until SIGTERM or SIGINT; then shuts down gracefully: stops claiming, lets running
/// jobs finish up to the drain timeout, hands the rest back (no attempt spent), and exits.
///
/// The worker's settings are `app.spool.workerConfiguration`'s, with the options' overrides.
/// The in-process workers and scheduler of `configure(_:)` do not start under this command; a
/// storage that is a `Service` runs as in any command. Schedules are safe to run in every
/// process (each tick is one job), and use `startScheduler(leadership:)`'s leadership if given.
public struct SpoolWorkCommand: AsyncCommand {
    /// `--queues`, `--concurrency`, `--drain-timeout`, `--no-scheduler`.
    public struct Signature: CommandSignature, Sendable {
        @Option(name: "queues", short: "q", help: "Comma-separated queues to serve, in order of preference.")
        var queues: String?

        @Option(name: "concurrency", short: "c", help: "The most jobs run at once.")
        var concurrency: Int?

        @Option(name: "drain-timeout", help: "How long shutdown lets running jobs finish, in seconds.")
        var drainTimeout: Double?

        @Flag(name: "no-scheduler", help: "Do not run the application's schedules in this process.")
        var noScheduler: Bool

        public init() {}
    }

    /// The options, parsed by ConsoleKit.
    public let signature = Signature()

    public init() {}

    /// The command's line in `swift run App spool --help`.
    public var help: String {
        "Runs a Spool worker (and the schedules) until SIGTERM or SIGINT, then drains running jobs."
    }

    /// Runs the worker (and the scheduler) in a service group until SIGTERM or SIGINT, then
    /// drains; returns once every running job has finished or been handed back.
    /// - Throws: `SpoolError` `storageUnavailable` when `app.spool.use(_:)` was not called,
    ///   `invalidArgument` naming a bad option or schedule.
    public func run(using context: CommandContext, signature: Signature) async throws {
        let application = context.application
        let state = application.spool.state
        let settings = state.settings.withLock { $0 }
        guard let storage = settings.storage else {
            throw SpoolError(code: .storageUnavailable, message: "no job storage configured: call app.spool.use(_:) in configure(_:)")
        }
        let configuration = try Self.configuration(settings.workerConfiguration, signature: signature)
        let logger = application.logger
        let worker = Worker(storage: storage, registry: state.registry, configuration: configuration, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: worker, serviceName: "spool.worker")]
        if !signature.noScheduler, !settings.schedules.isEmpty {
            let scheduler = try PeriodicScheduler(
                storage: storage, schedules: settings.schedules, leadership: settings.schedulerLeadership ?? AlwaysLeader(),
                registry: state.registry, logger: logger)
            services.append(.init(service: scheduler, serviceName: "spool.scheduler"))
        }
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Past the drain timeout the worker cancels its jobs itself; this is the backstop.
        group.maximumGracefulShutdownDuration = configuration.drainTimeout + .seconds(10)
        try await ServiceGroup(configuration: group).run()
    }

    /// `base` with the options' overrides.
    /// - Throws: `SpoolError` `invalidArgument` naming the option for an empty queue list, a
    ///   concurrency below 1 or a negative or non-finite drain timeout.
    static func configuration(_ base: WorkerConfiguration, signature: Signature) throws -> WorkerConfiguration {
        var configuration = base
        if let queues = signature.queues {
            let names = queues.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else {
                throw SpoolError(code: .invalidArgument, message: "--queues needs at least one queue name (got '\(queues)')")
            }
            configuration.queues = names.map { WorkerQueue($0) }
        }
        if let concurrency = signature.concurrency {
            guard (1...WorkerConfiguration.maximumConcurrency).contains(concurrency) else {
                throw SpoolError(
                    code: .invalidArgument,
                    message: "--concurrency must be 1 to \(WorkerConfiguration.maximumConcurrency) (got \(concurrency))")
            }
            configuration.concurrency = concurrency
        }
        if let seconds = signature.drainTimeout {
            guard seconds.isFinite, seconds >= 0, seconds <= 86_400 else {
                throw SpoolError(code: .invalidArgument, message: "--drain-timeout must be 0 to 86400 seconds (got \(seconds))")
            }
            configuration.drainTimeout = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return configuration
    }
}
