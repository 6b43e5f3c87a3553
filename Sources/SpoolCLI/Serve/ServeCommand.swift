import ArgumentParser
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Spool
import SpoolServer

/// `spool serve`: the HTTP API (`/v1`, `/openapi.json`), `/metrics`, `/healthz` and a worker
/// for the built-in job kinds, in one process, until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API and run a worker for the built-in job kinds.",
        discussion: """
            Serves the job API under /v1 (described at /openapi.json), Prometheus metrics at \
            /metrics and a health check at /healthz, and runs a worker for the built-in kinds \
            (spool.noop, spool.sleep, spool.echo, spool.fail) on the given queues.

            Tokens come from the environment (or the config file): SPOOL_ADMIN_TOKEN may do \
            everything, SPOOL_READ_TOKEN may only read (GET); clients send `Authorization: \
            Bearer TOKEN`. \
            With no token set every request is allowed, so the server then listens on \
            127.0.0.1 only, whatever --host says, and says so; it then also refuses a Host \
            other than localhost, 127.x.x.x or [::1] (421) and writes from web pages of other \
            sites (403). Request bodies under /v1 must be JSON (Content-Type: \
            application/json), tokens or not; others get 415.

            Connections that carry nothing for --idle-timeout, or whose request headers take \
            longer than --header-timeout from their first byte, are closed.

            Settings may also come from a JSON file (--config FILE or SPOOL_CONFIG) with the \
            members database, host, port, queues (an array), concurrency, body_limit, \
            idle_timeout_s, header_timeout_s, drain_timeout_s, log_level, admin_token, read_token, http_allow_hosts (an array), \
            schedules (periodic jobs; \
            see `spool schedules --help`) and limits (queue name → {"max_running", "rate"}, set \
            in the store at start; see `spool queues limit --help`); a flag beats the environment, which beats the file, \
            which beats the defaults.

            SIGTERM or SIGINT (Ctrl-C) shuts down gracefully: the server stops accepting \
            connections and finishes the requests under way; the worker stops claiming, lets \
            running jobs finish for --drain-timeout and hands the rest back.

            Examples:
              spool serve
              SPOOL_ADMIN_TOKEN=secret spool serve --host 0.0.0.0 --port 9000
              spool serve --config /etc/spool/serve.json
              curl -X POST localhost:8080/v1/jobs -H 'Content-Type: application/json' -d '{"kind": "spool.echo", "payload": {"hi": 1}}'
            """
    )

    @Option(help: ArgumentHelp("The address to listen on (default 127.0.0.1; 127.0.0.1 whenever no token is set).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("The port to listen on (default 8080; 0: any free port).", valueName: "port"))
    var port: Int?

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Comma-separated queues the built-in worker serves (default: default).", valueName: "names"))
    var queues: String?

    @Option(help: ArgumentHelp("The most jobs the built-in worker runs at once (default 10).", valueName: "n"))
    var concurrency: Int?

    @Option(help: ArgumentHelp("The largest request body accepted, in bytes (default 1048576).", valueName: "bytes"))
    var bodyLimit: Int?

    @Option(
        help: ArgumentHelp("How long a connection may carry nothing before it is closed, in seconds (default 60).", valueName: "seconds"))
    var idleTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "How long a request's headers may take to arrive from their first byte, in seconds (default 10).", valueName: "seconds"))
    var headerTimeout: Double?

    @Option(help: ArgumentHelp("How long shutdown lets running jobs finish, in seconds (default 25).", valueName: "seconds"))
    var drainTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "The lowest log level shown: trace, debug, info (default), notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level?

    @Option(
        help: ArgumentHelp(
            "A JSON settings file (default: $SPOOL_CONFIG, if set); flags and environment variables win over it.", valueName: "path"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Comma-separated hosts (or *.suffix patterns) http jobs may send to; empty: none (default: $SPOOL_HTTP_ALLOW_HOSTS, else any host).",
            valueName: "hosts"
        ))
    var httpAllowHosts: String?

    @Flag(help: "Write log lines as JSON objects.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let environment = ProcessInfo.processInfo.environment
            let file = try ServeConfigFile.load(flag: config, environment: environment)
            let traceExport = try TraceExport.bootstrap(environment: environment)
            LogSetup.bootstrap(level: logLevel ?? file.logLevel ?? .info, json: json, metadataProvider: traceExport?.metadataProvider)
            let host = self.host ?? file.host ?? "127.0.0.1"
            let port = self.port ?? file.port ?? 8080
            let names = try (queues.map(ArgumentValues.list) ?? file.queues ?? ["default"]).map(ArgumentValues.queueName)
            let concurrency = self.concurrency ?? file.concurrency ?? 10
            let bodyLimit = self.bodyLimit ?? file.bodyLimit ?? 1 << 20
            guard !names.isEmpty else { throw CLIError("--queues needs at least one queue name") }
            try ArgumentValues.checkConcurrency(concurrency)
            guard (0...65_535).contains(port) else { throw CLIError("--port must be from 0 to 65535 (got \(port))") }
            guard bodyLimit >= 1 else { throw CLIError("--body-limit must be at least 1 byte (got \(bodyLimit))") }
            let drain = try ArgumentValues.seconds(drainTimeout ?? file.drainTimeoutSeconds ?? 25, "--drain-timeout")
            let idle = try ArgumentValues.seconds(idleTimeout ?? file.idleTimeoutSeconds ?? 60, "--idle-timeout", allowZero: false)
            let header = try ArgumentValues.seconds(headerTimeout ?? file.headerTimeoutSeconds ?? 10, "--header-timeout", allowZero: false)
            let policy = try BuiltinJobs.httpPolicy(flag: httpAllowHosts, file: file.httpAllowHosts, environment: environment)
            let storageURL = try StorageURL.resolve(flag: database.url, environment: environment, fallback: file.database)
            let metrics = PrometheusCollectorRegistry()
            SpoolServer.bootstrapMetrics(registry: metrics)
            let logger = Logger(label: "spool.serve")

            var server = SpoolServer.Configuration(
                host: host, port: port, adminToken: environment["SPOOL_ADMIN_TOKEN"] ?? file.adminToken,
                readToken: environment["SPOOL_READ_TOKEN"] ?? file.readToken,
                bodyLimit: bodyLimit, idleTimeout: idle, headerTimeout: header, metricsRegistry: metrics,
                validatePayload: { kind, payload in try BuiltinJobs.validate(kind: kind, payload: payload, policy: policy) },
                logger: Logger(label: "spool.server")
            )
            if !server.requiresToken {
                let note =
                    server.effectiveHost == host
                    ? "no token set (SPOOL_ADMIN_TOKEN, SPOOL_READ_TOKEN): every request is allowed, on 127.0.0.1 only"
                    : "no token set (SPOOL_ADMIN_TOKEN, SPOOL_READ_TOKEN): listening on 127.0.0.1 only, not \(host)"
                Terminal.printError("note: \(note)")
            }
            let shownHost = server.effectiveHost.contains(":") ? "[\(server.effectiveHost)]" : server.effectiveHost
            server.onServerRunning = { port in
                Terminal.printOutput(
                    "Spool serving http://\(shownHost):\(port) (dashboard /, API /v1, OpenAPI /openapi.json, metrics /metrics)")
            }
            let duty = storageURL.rescueDuty(every: WorkerConfiguration().rescueInterval)
            let opened = try storageURL.open(.create, leaderRescue: duty.leaderRescue, logger: Logger(label: "spool.storage"))
            defer { opened.close() }
            try await opened.whileRunning { opened in
                logger.info("opened job store", metadata: ["spool.database": "\(opened.url)"])
                for (queue, limits) in file.limits.sorted(by: { $0.key < $1.key }) {
                    try await opened.storage.setLimits(limits, queue: queue)
                    logger.info("queue limits set", metadata: ["spool.queue": "\(queue)", "spool.limits": "\(limits)"])
                }
                let registry = BuiltinJobs.registry(policy: policy)
                let worker = Worker(
                    storage: opened.storage, registry: registry,
                    configuration: WorkerConfiguration(
                        queues: names.map { WorkerQueue($0) }, concurrency: concurrency, drainTimeout: drain,
                        rescueInterval: duty.workerRescue
                    )
                )
                let http = SpoolServer(storage: opened.storage, registry: registry, configuration: server)
                // The exporter first: services stop in reverse order, so it sends the last spans.
                var services: [ServiceGroupConfiguration.ServiceConfiguration] =
                    traceExport.map { [.init(service: $0.service, serviceName: "spool.otel")] } ?? []
                services += [
                    .init(service: http, serviceName: "spool.server"),
                    .init(service: worker, serviceName: "spool.worker"),
                ]
                if !file.schedules.isEmpty {
                    // One process among those sharing a server store enqueues the ticks.
                    let (gate, election) = Self.scheduleLeadership(for: opened)
                    if let election { services.append(.init(service: election, serviceName: "spool.cron.election")) }
                    let scheduler = try PeriodicScheduler(
                        storage: opened.storage, schedules: file.schedules, leadership: gate, registry: registry,
                        logger: Logger(label: "spool.scheduler")
                    )
                    services.append(.init(service: scheduler, serviceName: "spool.scheduler"))
                    logger.info("schedules loaded", metadata: ["spool.schedules": "\(file.schedules.map(\.name))"])
                }
                var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
                group.maximumGracefulShutdownDuration = drain + .seconds(10)
                try await ServiceGroup(configuration: group).run()
            }
        }
    }

    /// Who may enqueue schedules' ticks: on a store that can hold an election (PostgreSQL,
    /// Redis) the winner of the `cron` election among the processes sharing it (the election
    /// must run as a service), elsewhere this process (each tick's job id, derived from schedule
    /// and tick, keeps other processes sharing an SQLite file from storing it twice).
    static func scheduleLeadership(for opened: OpenedStorage) -> (any LeadershipGate, (any Service)?) {
        guard let store = opened.service as? any LeadershipStore else { return (AlwaysLeader(), nil) }
        let election = LeaderElection(store: store, duty: "cron", logger: Logger(label: "spool.storage"))
        return (election, election)
    }
}
