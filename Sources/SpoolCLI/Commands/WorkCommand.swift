import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Spool

/// `spool work`: runs a worker for the built-in job kinds until SIGTERM or SIGINT, then shuts
/// down gracefully (stops claiming, lets running jobs finish for the drain timeout, hands the
/// rest back).
struct WorkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work",
        abstract: "Run a worker for the built-in job kinds until stopped.",
        discussion: """
            The worker claims jobs from the given queues, runs them with bounded concurrency and \
            stores their outcomes; several `spool work` processes (and Swift programs) may share \
            one SQLite file. Built-in kinds: spool.noop (does nothing), spool.sleep {"ms": 20}, \
            spool.echo (returns its payload as its result), spool.fail {"message": "...", \
            "permanent": false}. Jobs of other kinds claimed from these queues go to dead as \
            unknown kinds, so give other programs' kinds queues of their own.

            SIGTERM or SIGINT (Ctrl-C) shuts down gracefully: no more claims, running jobs get \
            --drain-timeout to finish, the rest are handed back at once (no attempt spent). A \
            worker killed outright (SIGKILL, a crash) loses nothing: its jobs run again once \
            their lease expires and a worker's rescue finds them (within --lease plus \
            --rescue-interval). A job that kills its worker every time it runs (a trap in its \
            handler: Swift cannot catch one in-process) is a poison job: once its lease has \
            expired more than 3 times in a row it goes to dead with reason "poison", so a \
            supervisor that restarts the worker (systemd, Kubernetes) gets a healthy worker back.

            Logs go to standard error (--json: one JSON object per line).

            Examples:
              spool work
              spool work --queues default,mail --concurrency 50
              spool work --database sqlite:/srv/jobs.sqlite --lease 10 --rescue-interval 2
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Comma-separated queues to serve, in order of preference.", valueName: "names"))
    var queues = "default"

    @Option(help: ArgumentHelp("The most jobs run at once.", valueName: "n"))
    var concurrency = 10

    @Option(help: ArgumentHelp("How long a claimed job's lease lasts without a heartbeat, in seconds.", valueName: "seconds"))
    var lease = 30.0

    @Option(help: ArgumentHelp("How often to return jobs of crashed workers to their queue, in seconds (0: never).", valueName: "seconds"))
    var rescueInterval = 5.0

    @Option(help: ArgumentHelp("How long shutdown lets running jobs finish, in seconds.", valueName: "seconds"))
    var drainTimeout = 25.0

    @Option(help: ArgumentHelp("The lowest log level shown: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Flag(help: "Write log lines as JSON objects.")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Comma-separated hosts (or *.suffix patterns) http jobs may send to; empty: none (default: $SPOOL_HTTP_ALLOW_HOSTS, else any host).",
            valueName: "hosts"
        ))
    var httpAllowHosts: String?

    /// For Spool's own test of poison-job containment: jobs of this kind trap the process after
    /// 300 ms, as a handler with a bug would (the wait lets the outcomes of the jobs run before
    /// it be stored, so the test can tell them from the jobs a crash takes with it). Hidden: no
    /// one else has a use for it.
    @Option(help: .hidden)
    var testCrashKind: String?

    func run() async throws {
        try await reportingErrors {
            let traceExport = try TraceExport.bootstrap(environment: ProcessInfo.processInfo.environment)
            LogSetup.bootstrap(level: logLevel, json: json, metadataProvider: traceExport?.metadataProvider)
            let names = try ArgumentValues.list(queues).map(ArgumentValues.queueName)
            guard !names.isEmpty else { throw CLIError("--queues needs at least one queue name") }
            try ArgumentValues.checkConcurrency(concurrency)
            let lease = try ArgumentValues.seconds(self.lease, "--lease", allowZero: false)
            let rescue = try ArgumentValues.seconds(rescueInterval, "--rescue-interval")
            let drain = try ArgumentValues.seconds(drainTimeout, "--drain-timeout")
            let policy = try BuiltinJobs.httpPolicy(flag: httpAllowHosts, environment: ProcessInfo.processInfo.environment)
            let url = try StorageURL.resolve(flag: database.url)
            let duty = url.rescueDuty(every: rescue == .zero ? nil : rescue)
            let configuration = WorkerConfiguration(
                queues: names.map { WorkerQueue($0) }, concurrency: concurrency, lease: lease,
                drainTimeout: drain, rescueInterval: duty.workerRescue
            )
            let logger = Logger(label: "spool.work")
            try await database.withStorage(.create, leaderRescue: duty.leaderRescue, logger: Logger(label: "spool.storage")) { opened in
                logger.info("opened job store", metadata: ["spool.database": "\(opened.url)"])
                let registry = BuiltinJobs.registry(policy: policy)
                if let testCrashKind {
                    registry.register(kind: testCrashKind) { _, _ in
                        try await Task.sleep(for: .milliseconds(300))
                        fatalError("spool work --test-crash-kind: a job of kind \(testCrashKind) traps")
                    }
                }
                let worker = Worker(storage: opened.storage, registry: registry, configuration: configuration)
                // The exporter first: services stop in reverse order, so it sends the last spans.
                let services: [ServiceGroupConfiguration.ServiceConfiguration] =
                    (traceExport.map { [.init(service: $0.service, serviceName: "spool.otel")] } ?? [])
                    + [.init(service: worker, serviceName: "spool.worker")]
                var group = ServiceGroupConfiguration(
                    services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
                )
                // Past the drain timeout the worker cancels its jobs itself; this is the backstop.
                group.maximumGracefulShutdownDuration = drain + .seconds(10)
                try await ServiceGroup(configuration: group).run()
            }
        }
    }
}
