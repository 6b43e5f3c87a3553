// PostgresStorage: the type, its stored properties, initializers, and running it (schema, LISTEN, maintenance).

import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Spool
import Synchronization

/// The driver for many machines: jobs live in one PostgreSQL database (a schema of their own,
/// default `spool`), shared by every `spool work` and `spool serve` process that points at it.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` runs the connection pool, the LISTEN
/// connection and (when configured) the leader-elected maintenance, and must be running for any
/// operation to complete. Put it in the same `ServiceGroup` as the workers, **before** them, so
/// that on shutdown the workers drain and store their outcomes before the storage stops:
/// ```swift
/// let storage = try PostgresStorage(url: "postgres://spool:secret@db:5432/app")
/// let worker = Worker(storage: storage, registry: registry)
/// let group = ServiceGroup(services: [storage, worker], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
/// Operations called before ``run()`` has connected (and checked or migrated the schema) wait
/// for it up to ``Configuration/startTimeout``, then fail with `storageUnavailable`.
///
/// Guarantees (on top of ``JobStorage``'s):
/// - Every operation is one statement (so one transaction), whatever its batch size, except an
///   enqueue with unique keys some of which are taken (two statements in one transaction).
/// - A claim is one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`: concurrent claimers on
///   any number of machines never block each other and never get the same job.
/// - Outcomes and heartbeats are written only where the job is `running` and its lease owner is
///   the caller; the statement reports the ids it did not write.
/// - Unique keys are enforced by a partial unique index over live jobs.
/// - An enqueue notifies (`pg_notify`, in the same statement, so delivered at commit) and idle
///   workers on every machine wake at once; without notifications they notice new jobs within
///   ``Configuration/pollInterval``.
///
/// Failure: when the database cannot be reached (restart, failover, network) operations fail
/// with ``SpoolError`` code `storageUnavailable`, or wait for a connection while the pool
/// reconnects by itself (with PostgresNIO's backoff); the worker retries claims and outcome
/// flushes with backoff. No operation waits forever on a connection the server closed: each
/// statement checks its connection on the connection's event loop before PostgresNIO writes it
/// (see `CheckedConnection`). An operation whose commit was in flight when the connection broke
/// may or may not have been applied (the usual at-least-once caveat).
///
/// Times (run-at, lease expiry) are the callers' clocks: machines sharing a database must keep
/// their clocks in sync (NTP). Leader election alone uses the database's clock.
public final class PostgresStorage: JobStorage, Service, Sendable {
    /// The settings the storage was made with.
    public let configuration: Configuration
    /// The pool every operation runs on.
    let client: PostgresClient
    /// Task executors on the pool's event loops (see ``CheckedConnection``).
    let executors: EventLoopTaskExecutors
    /// For the dedicated LISTEN connection.
    private let listenConfiguration: PostgresConnection.Configuration
    /// `user@host:port/db (schema s)`, for messages.
    let target: String
    let sql: PostgresStatements
    /// The LISTEN/NOTIFY channel: `spool_<schema>`.
    let channel: String
    package let workSignal = WakeSignal()
    /// The waiters of particular jobs (``waitUntilFinished(_:)``), woken by this process's
    /// finishes and by other processes' finish notifications.
    let finishWatch = FinishWatch()
    let readiness = StorageReadiness(store: "PostgreSQL job store")
    let logger: Logger
    private let startMigration = Mutex<PostgresMigrationReport?>(nil)
    /// Queues this process claims from that had limits at its last claim: a finish of one of
    /// their jobs wakes local waiters (a slot of a max-running limit may be free).
    let limitedQueues = Mutex<Set<String>>([])
    /// The last claim of each set of queues, when it took every due job it saw (else no entry),
    /// for ``waitForWork(queues:deadline:clock:)``.
    let exhaustiveClaims = ExhaustiveClaims()
    /// This process's workers waiting for work, to whom an enqueue may hand its job.
    package let claimWaiters = ClaimWaiters()
    /// Whether the schema has this build's procedures (see ``PostgresRoutine``); known at start.
    let routines = Atomic<Bool>(false)
    /// ``routines``, as every hot write reads it.
    var hasRoutines: Bool { routines.load(ordering: .relaxed) }

    /// What ``run()`` did to the schema at start with ``Configuration/migrateOnStart`` (nil
    /// before it is ready, or when it only checked the version).
    public var migrationAtStart: PostgresMigrationReport? { startMigration.withLock { $0 } }

    /// The newest schema version this build knows.
    public static var schemaVersion: Int { PostgresSchema.latestVersion }

    /// A storage for the database at `url`: `postgres://USER:PASS@HOST:PORT/DB` (also
    /// `postgresql://`; port 5432 and database USER by default). Query options:
    /// `sslmode=disable|prefer|require` (default `prefer`), and `schema=NAME`,
    /// `notifications=on|off`, `prepared_statements=on|off`, `pool_size=N`, which override `configuration`'s fields (so one
    /// URL can say everything a `spool` command needs). Connects nothing until ``run()``.
    /// - Throws: ``SpoolError`` `invalidArgument` for a malformed URL, an unknown option or a bad
    ///   schema name (the message never shows the password).
    public convenience init(url: String, configuration: Configuration = Configuration()) throws {
        let parsed = try PostgresURL(url)
        try self.init(
            client: parsed.clientConfiguration, connection: try parsed.connectionConfiguration(),
            target: parsed.description, configuration: parsed.applied(to: configuration)
        )
    }

    /// A storage on an explicit client configuration (TLS, socket path and other options the URL
    /// cannot say). `connection` configures the LISTEN connection (same server and credentials).
    public convenience init(
        clientConfiguration: PostgresClient.Configuration, listenConfiguration: PostgresConnection.Configuration,
        configuration: Configuration = Configuration()
    ) throws {
        let target =
            "\(clientConfiguration.username)@\(clientConfiguration.host ?? clientConfiguration.unixSocketPath ?? "?"):\(clientConfiguration.port ?? 5432)/\(clientConfiguration.database ?? clientConfiguration.username)"
        try self.init(client: clientConfiguration, connection: listenConfiguration, target: target, configuration: configuration)
    }

    private init(
        client clientConfiguration: PostgresClient.Configuration, connection: PostgresConnection.Configuration,
        target: String, configuration: Configuration
    ) throws {
        try PostgresSchema.validate(schema: configuration.schema)
        var clientConfiguration = clientConfiguration
        clientConfiguration.options.maximumConnections = configuration.poolSize
        clientConfiguration.options.minimumConnections = 0
        if configuration.preparedStatements {
            // The prepared statements' unqualified table names resolve here (see `Prepared`),
            // and the one-statement claim is planned without bitmap and sequential scans (why:
            // see `claimRows`); `stats`, the one statement that wants a full scan, turns them
            // back on for its own transaction.
            clientConfiguration.options.additionalStartupParameters += [
                ("search_path", "\"\(configuration.schema)\""), ("enable_bitmapscan", "off"), ("enable_seqscan", "off"),
            ]
        }
        self.configuration = configuration
        self.logger = configuration.logger
        let group = PostgresClient.defaultEventLoopGroup
        self.client = PostgresClient(
            configuration: clientConfiguration, eventLoopGroup: group,
            backgroundLogger: Logger(label: "spool.postgres.pool", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        self.executors = EventLoopTaskExecutors(group)
        self.listenConfiguration = connection
        self.target = "'\(target)' (schema \(configuration.schema))"
        self.sql = PostgresStatements(schema: configuration.schema, notifications: configuration.notifications)
        self.channel = "spool_\(configuration.schema)"
    }

    // MARK: Running

    /// Runs the connection pool, checks or migrates the schema (``Configuration/migrateOnStart``),
    /// then serves until graceful shutdown or cancellation: the LISTEN connection (reconnecting
    /// with backoff when lost) and, when configured, the leader-elected maintenance.
    ///
    /// While the database cannot be reached at start it retries with backoff (operations wait up
    /// to ``Configuration/startTimeout``).
    /// - Throws: ``SpoolError`` `storageUnavailable` when the schema is newer than this build, or
    ///   older with `migrateOnStart` off; nothing is changed then.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            do {
                try await prepareSchema()
            } catch {
                readiness.fail(error)
                group.cancelAll()
                throw error
            }
            readiness.open()
            if configuration.notifications {
                group.addTask { await self.listenLoop() }
            }
            if let maintenance = configuration.maintenance {
                let election = PostgresLeaderElection(storage: self, duty: "maintenance", ttl: maintenance.leaderTTL)
                group.addTask { try await election.run() }
                group.addTask { await maintenance.run(on: self, election: election, clock: self.configuration.clock, logger: self.logger) }
            }
            try? await gracefulShutdown()
            readiness.stop()
            group.cancelAll()
        }
    }

    private func prepareSchema() async throws {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await withConnection { connection in
                    if configuration.migrateOnStart {
                        let report = try await PostgresSchema.migrate(connection, schema: configuration.schema, now: Date())
                        startMigration.withLock { $0 = report }
                        routines.store(true, ordering: .relaxed)
                        if !report.applied.isEmpty {
                            logger.info("migrated the job store", metadata: ["spool.migration": "\(report)"])
                        }
                    } else {
                        let version = try await PostgresSchema.version(connection, schema: configuration.schema)
                        if version > PostgresSchema.latestVersion {
                            throw PostgresSchema.tooNew(schema: configuration.schema, version: version)
                        }
                        if version < PostgresSchema.latestVersion {
                            throw PostgresSchema.tooOld(schema: configuration.schema, version: version)
                        }
                        let missing = try await PostgresRoutine.missing(connection, schema: configuration.schema)
                        if !missing.isEmpty {
                            logger.notice(
                                "the job store lacks this build's procedures; claims, outcomes and enqueues take three round trips instead of one until `spool migrate` runs",
                                metadata: ["spool.missing": "\(missing)"])
                        }
                        routines.store(missing.isEmpty, ordering: .relaxed)
                    }
                }
                return
            } catch {
                let wrapped = SpoolError.postgres(error, target: target, operation: "preparing the schema")
                if PostgresFailure.unwrap(error) is SpoolError || error is CancellationError || Task.isCancelled { throw wrapped }
                if PostgresFailure.sqlState(error) != nil && !Self.isTransient(error) { throw wrapped }
                readiness.noteFailure(wrapped)
                logger.warning(
                    "cannot prepare the job store yet; retrying", metadata: ["spool.error": "\(wrapped)", "spool.retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(.seconds(5), delay * 2)
            }
        }
    }

    /// Server errors worth retrying at start (the server is starting or shutting down).
    private static func isTransient(_ error: any Error) -> Bool {
        guard let state = PostgresFailure.sqlState(error) else { return true }
        return state.hasPrefix("57P") || state.hasPrefix("08") || state == "53300"
    }

    /// Suspends until ``run()`` has connected and checked (or migrated) the schema, so the schema
    /// is usable, for example by ``enqueue(_:on:now:)`` on a connection of another pool.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the start failed or took longer than
    ///   ``Configuration/startTimeout``.
    public func waitUntilReady() async throws {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
    }

    /// Brings the schema to ``schemaVersion``, creating it when missing: what `spool migrate`
    /// runs. A no-op for an up-to-date schema. One transaction under an advisory lock (concurrent
    /// migrators run one after another; a failed migration changes nothing). Needs ``run()``.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the schema is newer than this build
    ///   (naming both versions) or the database cannot be reached.
    @discardableResult
    public func migrate() async throws -> PostgresMigrationReport {
        do {
            return try await withConnection { connection in
                let report = try await PostgresSchema.migrate(connection, schema: configuration.schema, now: Date())
                routines.store(true, ordering: .relaxed)
                return report
            }
        } catch {
            throw SpoolError.postgres(error, target: target, operation: "migrating the schema")
        }
    }

    /// The version the schema is at (0 when it has no Spool tables). Needs ``run()``.
    public func databaseSchemaVersion() async throws -> Int {
        do {
            return try await withConnection { connection in
                try await PostgresSchema.version(connection, schema: configuration.schema)
            }
        } catch {
            throw SpoolError.postgres(error, target: target, operation: "reading the schema version")
        }
    }

    /// Deletes the schema with every job, queue setting and leader row in it (`DROP SCHEMA …
    /// CASCADE`). For throwaway schemas (tests, `spool bench`); irreversible. Needs ``run()``.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the database cannot be reached.
    public func dropSchema() async throws {
        do {
            _ = try await withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(configuration.schema)\" CASCADE"))
            }
        } catch {
            throw SpoolError.postgres(error, target: target, operation: "dropping the schema")
        }
    }

    /// A notification's payload: finished jobs (``PostgresStatements/finishedPrefix`` and their
    /// ids) wake their waiters; anything else (a queue name) wakes the workers.
    func dispatch(_ payload: String) {
        guard payload.hasPrefix(PostgresStatements.finishedPrefix) else {
            workSignal.signal()
            return
        }
        let ids = payload.dropFirst().split(separator: ",").compactMap { UUID(uuidString: String($0)).map(PostgresCoding.id) }
        finishWatch.notify(ids)
    }

    /// Keeps one connection LISTENing on ``channel``; every notification (and every reconnect,
    /// which may have missed some) wakes the local waiters.
    private func listenLoop() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: listenConfiguration, id: 0, logger: logger)
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: channel) { notifications in
                            workSignal.signal()
                            // Finishes may have been missed while not listening: waiters re-read.
                            finishWatch.notifyAll()
                            delay = .milliseconds(100)
                            for try await notification in notifications {
                                dispatch(notification.payload)
                            }
                        }
                    } onCancel: {
                        let closing: EventLoopFuture<Void> = connection.close()
                        closing.whenComplete { _ in }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "the LISTEN connection failed; reconnecting (idle workers poll meanwhile)",
                    metadata: [
                        "spool.error": "\(SpoolError.postgres(error, target: target, operation: "listening"))",
                        "spool.retry_in": "\(delay)",
                    ])
            }
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(.seconds(5), delay * 2)
        }
    }
}
