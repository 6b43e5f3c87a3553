import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Spool

/// Spool's HTTP server: the `/v1` API, the dashboard at `/`, `/healthz`, `/metrics` and
/// `/openapi.json`, on Hummingbird 2, as a swift-service-lifecycle `Service`.
///
/// ```swift
/// let server = SpoolServer(storage: storage, configuration: .init(adminToken: "secret"))
/// let worker = Worker(storage: storage, registry: registry)
/// let group = ServiceGroup(configuration: .init(
///     services: [.init(service: server), .init(service: worker)],
///     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
///
/// Graceful shutdown stops accepting connections and lets requests under way finish. The
/// server knows storage only through ``JobStorage``: any driver works.
///
/// The dashboard (see ``DashboardRoutes``) is server-rendered HTML with plain forms: queues
/// with counts by state, pause/resume, "retry all dead"; charts of the last hour; job lists by
/// state with search; a job's payload, errors and result, with retry, cancel and delete.
///
/// Every error is answered as `application/problem+json` (`type`, `title`, `status`, `detail`):
/// 400 for malformed JSON, a bad field or path parameter (naming it) or a request that is not
/// valid HTTP (a malformed chunk size), 413 past ``Configuration/bodyLimit``, 401/403 for
/// tokens, 404 for an unknown job or path, 405 with `Allow` for a known path asked with a method
/// it does not have (`DELETE /v1/stats`), 409 for a unique-key or state conflict, 415 for a body
/// that is not JSON, 421 for a foreign `Host` when no token is configured, 503 with
/// `Retry-After` when a bounded queue is full (enqueues never wait for space).
///
/// ## The edges
///
/// Nothing a request sends stops the server or reaches past it:
///
/// - **JSON only** on `/v1` and `/metrics`, with or without tokens: a `Content-Type` other than
///   `application/json` or `application/*+json` (parameters allowed), or a body without one,
///   gets 415 before any handler runs; a request without a body needs none. A web page can make
///   a browser send a form, `text/plain` or a typeless body to any address, never JSON, so no
///   page can enqueue, pause or cancel through the operator's browser.
/// - **With no token configured**, the server answers only the machine's own users: it binds
///   loopback only (``Configuration/effectiveHost``); a `Host` that is not `localhost`,
///   `127.x.x.x` or `[::1]` (optional port) gets 421, so a DNS-rebound name reads nothing, not
///   even the dashboard's form token; a write (not `GET`, `HEAD`, `OPTIONS`) with an `Origin`
///   that is not a loopback origin (or is `null`), or with `Sec-Fetch-Site: cross-site` or
///   `same-site`, gets 403. The dashboard's own forms pass. With a token configured these rules
///   are off: the token is the guard (the API takes it only from `Authorization`).
/// - **Path parameters are percent-decoded**: `POST /v1/queues/a%20b/pause` pauses `a b`. A queue
///   name is then checked like every name (`JobInput.name(_:field:)`: normalised to NFC, 1 to
///   255 code points, no control characters); a bad one, or bad percent-encoding, gets 400
///   naming the parameter.
/// - **Connections are bounded in time**: ``Configuration/idleTimeout`` closes a connection
///   that carries nothing (an idle keep-alive, a stalled body), ``Configuration/headerTimeout`` one
///   whose request head takes too long from its first byte (a slowloris).
/// - **`/metrics` is bounded in size**: at most ``QueueDepthGauges/maximumQueues`` queues get
///   their own `spool_queue_depth`/`spool_queue_paused` series, the rest share `queue="other"`,
///   and the series of queues gone from storage are dropped at the next scrape; the core's job
///   metrics cap their queue and kind labels the same way (`MetricsMiddleware`).
public struct SpoolServer: Service {
    /// Settings of the server. Every field has a working default.
    public struct Configuration: Sendable {
        /// The address to bind. Default `127.0.0.1`. With no token configured, any other
        /// address is refused in favour of `127.0.0.1` (see ``effectiveHost``).
        public var host: String
        /// The port to bind; 0 picks a free one (reported to ``onServerRunning``). Default 8080.
        public var port: Int
        /// The token that may do everything (`SPOOL_ADMIN_TOKEN`). Nil: none.
        public var adminToken: String?
        /// The token that may only read (`SPOOL_READ_TOKEN`): `GET` requests. Nil: none.
        /// With neither token set, every request is allowed.
        public var readToken: String?
        /// The largest request body accepted, in bytes; larger ones get 413. Default 1 MiB.
        public var bodyLimit: Int
        /// The most jobs in one `POST /v1/jobs/batch`. Default 1,000.
        public var maximumBatchSize: Int
        /// The `Retry-After` of 503 answers, in seconds. Default 1.
        public var retryAfterSeconds: Int
        /// How long a connection may carry nothing (no request bytes read, no response under
        /// way) before the server closes it: an idle keep-alive connection, or a client that
        /// stopped sending a body. Default 60 s (what nginx and Envoy users expect); at least
        /// 1 ms.
        public var idleTimeout: Duration
        /// How long a request's head (request line and headers) may take to arrive, counted from
        /// its first byte; past it the connection is closed without an answer. Default 10 s; at
        /// least 1 ms. A connection that never sends a byte is governed by ``idleTimeout``
        /// instead, and so are bytes of a pipelined request sent before the previous one was
        /// read in full.
        public var headerTimeout: Duration
        /// The registry `/metrics` exposes. Pass the one the process-wide `MetricsSystem` was
        /// bootstrapped with (see ``SpoolServer/bootstrapMetrics(registry:)``) so the core's
        /// job metrics show; nil: a registry of the server's own, with the queue gauges only.
        public var metricsRegistry: PrometheusCollectorRegistry?
        /// Checks a job's payload before it is stored (say, that it decodes as its kind's
        /// parameters); what it throws is answered as 400 naming the `payload` field. Nil: any
        /// JSON payload is accepted.
        public var validatePayload: (@Sendable (_ kind: String, _ payload: [UInt8]) throws -> Void)?
        /// How often ``SpoolServer/run()`` samples the job counts for the dashboard's charts of the
        /// last hour. Default 10 s; each sample is one `stats()` call.
        public var dashboardSampleInterval: Duration
        /// Called once the server listens, with the port it bound (useful with port 0).
        public var onServerRunning: (@Sendable (_ port: Int) async -> Void)?
        /// The server's logger. Default label `spool.server`.
        public var logger: Logger

        /// Settings with the defaults above; empty tokens count as none, sizes below 1 are
        /// raised to 1, and timeouts below 1 ms to 1 ms.
        public init(
            host: String = "127.0.0.1", port: Int = 8080, adminToken: String? = nil, readToken: String? = nil,
            bodyLimit: Int = 1 << 20, maximumBatchSize: Int = 1000, retryAfterSeconds: Int = 1,
            idleTimeout: Duration = .seconds(60), headerTimeout: Duration = .seconds(10),
            metricsRegistry: PrometheusCollectorRegistry? = nil,
            validatePayload: (@Sendable (_ kind: String, _ payload: [UInt8]) throws -> Void)? = nil,
            dashboardSampleInterval: Duration = .seconds(10),
            onServerRunning: (@Sendable (_ port: Int) async -> Void)? = nil,
            logger: Logger = Logger(label: "spool.server")
        ) {
            self.host = host
            self.port = port
            self.adminToken = adminToken.flatMap { $0.isEmpty ? nil : $0 }
            self.readToken = readToken.flatMap { $0.isEmpty ? nil : $0 }
            self.bodyLimit = max(1, bodyLimit)
            self.maximumBatchSize = max(1, maximumBatchSize)
            self.retryAfterSeconds = max(1, retryAfterSeconds)
            self.idleTimeout = max(.milliseconds(1), idleTimeout)
            self.headerTimeout = max(.milliseconds(1), headerTimeout)
            self.metricsRegistry = metricsRegistry
            self.validatePayload = validatePayload
            self.dashboardSampleInterval = max(.milliseconds(1), dashboardSampleInterval)
            self.onServerRunning = onServerRunning
            self.logger = logger
        }

        /// True when a token is configured, so requests are checked.
        public var requiresToken: Bool { adminToken != nil || readToken != nil }

        /// The address actually bound: ``host``, unless no token is configured and ``host`` is
        /// not a loopback address, in which case `127.0.0.1` (an open API stays on this machine).
        public var effectiveHost: String {
            if requiresToken || Self.isLoopback(host) { return host }
            return "127.0.0.1"
        }

        /// True for `localhost`, `127.x.x.x` and `::1`.
        package static func isLoopback(_ host: String) -> Bool {
            // The same rule the server applies to a request's `Host` when no token is set.
            host == "::1" || LoopbackGuardMiddleware<SpoolServerRequestContext>.isLoopbackAuthority(host)
        }
    }

    /// The server's settings.
    public let configuration: Configuration
    let storage: any JobStorage
    let registry: JobRegistry
    let clock: any JobClock
    let metricsRegistry: PrometheusCollectorRegistry
    /// The dashboard's per-minute counts, fed by ``run()``.
    let throughput = ThroughputHistory()
    /// The token every dashboard form carries (CSRF protection): random per server instance.
    let formToken = DashboardPage.randomHex(bytes: 24)

    /// A server over `storage`.
    /// - Parameters:
    ///   - registry: the kinds' registered defaults (queue, priority, attempts, timeout) for
    ///     jobs enqueued over HTTP; kinds not registered get the global defaults.
    ///   - clock: the clock of run-at times and of enqueue, retry and cancel.
    public init(
        storage: any JobStorage, registry: JobRegistry = JobRegistry(), configuration: Configuration = Configuration(),
        clock: any JobClock = SystemClock()
    ) {
        self.storage = storage
        self.registry = registry
        self.configuration = configuration
        self.clock = clock
        self.metricsRegistry = configuration.metricsRegistry ?? PrometheusCollectorRegistry()
    }

    /// Bootstraps the process-wide `MetricsSystem` with a Prometheus factory over `registry`,
    /// so the core's metrics (jobs by outcome, durations, queue latency) appear at `/metrics`
    /// when the same registry is passed as ``Configuration/metricsRegistry``.
    ///
    /// `MetricsSystem` can be bootstrapped once per process: call this once, at start-up.
    public static func bootstrapMetrics(registry: PrometheusCollectorRegistry) {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The router with every route and the problem, loopback, auth, JSON-body and 405 middleware
    /// (see "The edges" above), to run in a Hummingbird application of one's own. The connection
    /// limits are not part of it: they live in ``makeApplication()``.
    public func makeRouter() -> Router<SpoolServerRequestContext> {
        let router = Router(context: SpoolServerRequestContext.self)
        router.add(middleware: ProblemMiddleware(bodyLimit: configuration.bodyLimit, retryAfter: configuration.retryAfterSeconds))
        if !configuration.requiresToken {
            router.add(
                middleware: LoopbackGuardMiddleware<SpoolServerRequestContext>(isBrowserPath: { DashboardRoutes.isDashboardPath($0) }))
        }
        let auth = AuthMiddleware<SpoolServerRequestContext>(
            adminToken: configuration.adminToken, readToken: configuration.readToken, openPaths: ["/healthz", "/openapi.json"],
            isBrowserPath: { DashboardRoutes.isDashboardPath($0) }
        )
        router.add(middleware: auth)
        router.add(middleware: JSONBodyMiddleware<SpoolServerRequestContext>())
        let routes = APIRoutes(
            storage: storage, client: SpoolClient(storage: storage, registry: registry, clock: clock), registry: registry,
            clock: clock, bodyLimit: configuration.bodyLimit, retryAfter: configuration.retryAfterSeconds,
            maximumBatchSize: configuration.maximumBatchSize, validatePayload: configuration.validatePayload,
            metricsRegistry: metricsRegistry,
            gauges: QueueDepthGauges(registry: metricsRegistry)
        )
        routes.register(on: router)
        BatchRoutes(routes: routes).register(on: router)
        WorkerRoutes(storage: storage, clock: clock, read: { try await routes.readJSON($0) }).register(on: router)
        DashboardRoutes(
            storage: storage, clock: clock, history: throughput, formToken: formToken, bodyLimit: configuration.bodyLimit,
            access: { try auth.access(of: $0, browser: true) }
        ).register(on: router)
        // After every route, so it wraps only the not-found answer: a known path with another
        // method gets 405 with `Allow`.
        router.add(middleware: MethodNotAllowedMiddleware<SpoolServerRequestContext>(routes: router.routes))
        return router
    }

    /// The Hummingbird application serving ``makeRouter()`` on the configured address (tests
    /// drive it with HummingbirdTesting).
    public func makeApplication() -> Application<RouterResponder<SpoolServerRequestContext>> {
        let configuration = self.configuration
        let onServerRunning = configuration.onServerRunning
        return Application(
            router: makeRouter(),
            server: TimedHTTP1Channel.builder(
                idleTimeout: TimeAmount(configuration.idleTimeout), headerTimeout: TimeAmount(configuration.headerTimeout)
            ),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.effectiveHost, port: configuration.port), serverName: nil
            ),
            onServerRunning: { channel in
                await onServerRunning?(channel.localAddress?.port ?? configuration.port)
            },
            logger: configuration.logger
        )
    }

    /// Serves until graceful shutdown (or cancellation) of the task that runs it, sampling the
    /// job counts for the dashboard's charts every ``Configuration/dashboardSampleInterval`` in
    /// a child task that ends with the server.
    /// - Throws: when the address cannot be bound.
    public func run() async throws {
        if configuration.effectiveHost != configuration.host {
            configuration.logger.warning(
                "no token is configured (SPOOL_ADMIN_TOKEN, SPOOL_READ_TOKEN): listening on 127.0.0.1 only, not \(configuration.host)"
            )
        } else if !configuration.requiresToken {
            configuration.logger.notice("no token is configured: every request on \(configuration.host) is allowed")
        }
        let application = makeApplication()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            group.addTask {
                await throughput.sample(
                    storage: storage, every: configuration.dashboardSampleInterval, clock: clock, logger: configuration.logger
                )
            }
            // The application ends first (shutdown, or a failure to bind); the sampler only ends
            // when cancelled. Either way, stop the other.
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }
}
