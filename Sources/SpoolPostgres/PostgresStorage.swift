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
    /// Settings of the PostgreSQL driver. Every field has a working default.
    public struct Configuration: Sendable {
        /// Cluster-wide maintenance run by one elected leader among the processes sharing the
        /// store: the rescue of expired leases and the pruning of finished jobs.
        public typealias Maintenance = ClusterMaintenance

        /// The PostgreSQL schema holding Spool's tables (created by the migration): 1 to 48
        /// lower-case letters, digits and underscores. Default `spool`.
        public var schema: String
        /// The most connections the pool opens (the LISTEN connection is one more). Default 10.
        public var poolSize: Int
        /// The longest an idle ``PostgresStorage/waitForWork(queues:deadline:clock:)`` sleeps
        /// before looking at the table again. With notifications on this is only a safety net;
        /// with them off it is how other processes' enqueues are noticed. Default 1 s.
        public var pollInterval: Duration
        /// Whether enqueues `pg_notify` and waiting workers LISTEN. Turn it off behind a
        /// connection pooler in transaction mode (PgBouncer), which cannot carry LISTEN; workers
        /// then poll every ``pollInterval``. Default true.
        public var notifications: Bool
        /// Whether the hot statements (enqueue, claim, finish, heartbeat, the check for work)
        /// are prepared once per pooled connection instead of parsed and planned on every run,
        /// which roughly halves the server's work per job. The pool's connections then set
        /// `search_path` to the schema at startup. Turn it off behind a pooler that can carry
        /// neither (PgBouncer before 1.21 in transaction mode; 1.21 and later need
        /// `max_prepared_statements` and `track_extra_parameters = search_path`). Default true.
        public var preparedStatements: Bool
        /// Whether ``PostgresStorage/run()`` brings the schema to the current version (creating
        /// it when missing). When false, a schema that is not exactly at the current version is
        /// refused and ``PostgresStorage/migrate()`` must be run first (`spool migrate`).
        /// A schema newer than this build is always refused. Default true.
        public var migrateOnStart: Bool
        /// Leader-elected rescue and prune; nil turns it off (then let workers rescue, with
        /// `WorkerConfiguration.rescueInterval`). Default on.
        public var maintenance: Maintenance?
        /// How long operations wait for ``PostgresStorage/run()`` to connect and check the
        /// schema before failing with `storageUnavailable`. Default 10 s.
        public var startTimeout: Duration
        /// The clock for maintenance (rescue and prune times).
        public var clock: any JobClock
        /// Where the driver reports what it cannot throw (a lost LISTEN connection, a failed
        /// rescue).
        public var logger: Logger

        public init(
            schema: String = "spool", poolSize: Int = 10, pollInterval: Duration = .seconds(1), notifications: Bool = true,
            preparedStatements: Bool = true, migrateOnStart: Bool = true, maintenance: Maintenance? = Maintenance(), startTimeout: Duration = .seconds(10),
            clock: any JobClock = SystemClock(), logger: Logger = Logger(label: "spool.postgres")
        ) {
            self.schema = schema
            self.poolSize = max(1, poolSize)
            self.pollInterval = pollInterval
            self.notifications = notifications
            self.preparedStatements = preparedStatements
            self.migrateOnStart = migrateOnStart
            self.maintenance = maintenance
            self.startTimeout = startTimeout
            self.clock = clock
            self.logger = logger
        }
    }

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
    private let workSignal = WakeSignal()
    private let readiness = StorageReadiness(store: "PostgreSQL job store")
    let logger: Logger
    private let startMigration = Mutex<PostgresMigrationReport?>(nil)
    /// Queues this process claims from that had limits at its last claim: a finish of one of
    /// their jobs wakes local waiters (a slot of a max-running limit may be free).
    private let limitedQueues = Mutex<Set<String>>([])

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
        let target = "\(clientConfiguration.username)@\(clientConfiguration.host ?? clientConfiguration.unixSocketPath ?? "?"):\(clientConfiguration.port ?? 5432)/\(clientConfiguration.database ?? clientConfiguration.username)"
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
                        if !report.applied.isEmpty {
                            logger.info("migrated the job store", metadata: ["spool.migration": "\(report)"])
                        }
                    } else {
                        let version = try await PostgresSchema.version(connection, schema: configuration.schema)
                        if version > PostgresSchema.latestVersion { throw PostgresSchema.tooNew(schema: configuration.schema, version: version) }
                        if version < PostgresSchema.latestVersion { throw PostgresSchema.tooOld(schema: configuration.schema, version: version) }
                    }
                }
                return
            } catch {
                let wrapped = SpoolError.postgres(error, target: target, operation: "preparing the schema")
                if PostgresFailure.unwrap(error) is SpoolError || error is CancellationError || Task.isCancelled { throw wrapped }
                if PostgresFailure.sqlState(error) != nil && !Self.isTransient(error) { throw wrapped }
                readiness.noteFailure(wrapped)
                logger.warning("cannot prepare the job store yet; retrying", metadata: ["spool.error": "\(wrapped)", "spool.retry_in": "\(delay)"])
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
                try await PostgresSchema.migrate(connection, schema: configuration.schema, now: Date())
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
                            delay = .milliseconds(100)
                            for try await _ in notifications {
                                workSignal.signal()
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
                logger.warning("the LISTEN connection failed; reconnecting (idle workers poll meanwhile)", metadata: [
                    "spool.error": "\(SpoolError.postgres(error, target: target, operation: "listening"))",
                    "spool.retry_in": "\(delay)",
                ])
            }
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(.seconds(5), delay * 2)
        }
    }

    // MARK: Running statements

    /// Runs `body` with a pooled connection, on that connection's event loop, where its
    /// statements cannot be lost when the server closes it (see ``CheckedConnection``).
    ///
    /// Cost, against calling PostgresNIO directly: about the same, and no task is created. The
    /// task hops onto the connection's event loop (where PostgresNIO would send the write), is
    /// resumed there when the answer comes (without waking another thread), and hops back to
    /// the cooperative pool when `body` ends (where PostgresNIO would resume it). The rows are
    /// collected on the event loop; `body` should do little else there.
    func withConnection<T: Sendable>(_ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await withTaskExecutorPreference(executors.executor(for: connection.eventLoop)) {
                try await body(CheckedConnection(connection: connection, logger: logger))
            }
        }
    }

    /// Runs `body` with `connection` (the caller's, for a transactional enqueue) on the
    /// connection's event loop (see ``CheckedConnection``).
    func onLoop<T: Sendable>(of connection: PostgresConnection, _ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(executors.executor(for: connection.eventLoop)) {
            try await body(CheckedConnection(connection: connection, logger: logger))
        }
    }

    /// Runs `body` in a transaction on a pooled connection (see ``CheckedConnection/transaction(_:)``).
    func withTransaction<T: Sendable>(_ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in try await connection.transaction(body) }
    }

    /// Runs `body` once the storage is ready, reporting its failure as a ``SpoolError`` that
    /// names `operation`.
    private func performing<T>(_ operation: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try await body()
        } catch {
            throw SpoolError.postgres(error, target: target, operation: operation())
        }
    }

    /// Runs one statement on a pooled connection and collects its rows. Outside a transaction:
    /// for reads; writes take ``committedRows(_:_:_:)``.
    func rows(_ statement: String, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: statement, binds: bindings))
            }
        }
    }

    /// Runs one statement that writes in a transaction of its own on a pooled connection and
    /// collects its rows.
    ///
    /// Why a transaction for one statement: PostgresNIO reports a statement done at its
    /// `CommandComplete`, but a statement outside a transaction commits only when the server
    /// then processes the `Sync` that follows it. A server that stops or crashes in between
    /// rolls it back after the caller was told it succeeded: an acknowledged change (an
    /// enqueue, an outcome, a retry through the API) that never happened, or a claim whose jobs
    /// run although they were never taken, so they run twice. `COMMIT`'s reply comes only once
    /// the commit is done. Cost: two more round trips.
    func committedRows(_ statement: String, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withTransaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: statement, binds: bindings))
            }
        }
    }

    /// Runs one hot statement that writes in a transaction of its own (why: see
    /// ``committedRows(_:_:_:)`` for a statement as text) and collects its rows.
    func committedRows<Statement: PostgresHotStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withTransaction { connection in try await self.run(statement, bindings, on: connection) }
        }
    }

    /// Runs one hot statement on a pooled connection (prepared, see ``run(_:_:on:prepare:)``)
    /// and collects its rows. Outside a transaction: for reads, and writes whose loss is
    /// harmless (a heartbeat); the others take ``committedRows(_:_:_:)``.
    func rows<Statement: PostgresHotStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withConnection { connection in try await self.run(statement, bindings, on: connection) }
        }
    }

    /// The claim of queues with limits, or of any queue with prepared statements off (else
    /// ``fastClaimRows`` takes one round trip). Runs in a transaction that first sets, for that
    /// transaction only (`SET LOCAL`, so the pooled connection is unchanged afterwards, and
    /// safe behind a transaction-mode pooler):
    /// - no bitmap and no sequential scans. A job table turns over completely between two runs
    ///   of autovacuum's ANALYZE, so the planner's statistics are nearly always wrong. With a
    ///   fresh or stale estimate of "one matching row" it picks a bitmap scan of every waiting
    ///   job plus a sort (measured: 100 ms and a 4.7 MB on-disk sort per claim with 100,000 jobs
    ///   waiting), instead of reading the claim index in order and stopping after `limit` rows
    ///   (0.3 ms).
    /// - `synchronous_commit = off`: the claim does not wait for its WAL flush. A claim lost in
    ///   a database crash only puts the job back in line: the worker's outcome then fails the
    ///   lease check and the job runs again, as after any lost lease (at least once, as always).
    ///   Enqueues and outcomes keep waiting for the flush.
    ///
    /// Cost: two extra round trips, far less than the flush saved.
    private func claimRows(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) async throws -> [PostgresRow] {
        let (rows, locked) = try await performing("claim for worker '\(worker)'") {
            try await withTransaction { connection -> ([PostgresRow], [String]) in
                let settings = try await self.run(HotSQL.ClaimLocks.self, binds { $0.append(queues) }, on: connection)
                let locked = try settings.first?.decode((String, String, String, [String]).self).3 ?? []
                var limits = limits
                var rateLimited: [String] = []
                if !locked.isEmpty {
                    let counted = try await self.run(HotSQL.LimitedQueues.self, binds { $0.append(locked); $0.append(now) }, on: connection)
                    for row in counted {
                        let (name, queueLimits, allowance) = try PostgresCoding.allowance(row)
                        if let index = queues.firstIndex(of: name) { limits[index] = min(limits[index], Int64(allowance.jobs)) }
                        if queueLimits.rate != nil { rateLimited.append(name) }
                    }
                }
                var bindings = Self.claimBindings(queues: queues, limits: limits, now: now, total: total, worker: worker, expiry: expiry)
                bindings.append(locked)
                let claimed = try await self.run(HotSQL.Claim.self, bindings, on: connection)
                if !rateLimited.isEmpty {
                    var started = [Int32](repeating: 0, count: rateLimited.count)
                    for row in claimed {
                        let order = try row.makeRandomAccess()[11].decode(Int64.self)
                        if let index = rateLimited.firstIndex(of: queues[Int(order) - 1]) { started[index] += 1 }
                    }
                    _ = try await self.run(HotSQL.RecordStarts.self, binds {
                        $0.append(now)
                        $0.append(rateLimited)
                        $0.append(started)
                    }, on: connection)
                }
                return (claimed, locked)
            }
        }
        limitedQueues.withLock { known in
            known.subtract(queues)
            known.formUnion(locked)
        }
        return rows
    }

    /// $1–$6 of both claim statements.
    private static func claimBindings(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) -> PostgresBindings {
        binds {
            $0.append(queues)
            $0.append(limits)
            $0.append(now)
            $0.append(total)
            $0.append(worker)
            $0.append(expiry)
        }
    }

    /// The claimed rows, in one round trip (prepared statements only), or nil when a demanded
    /// queue has limits: then nothing was claimed and ``claimRows`` must do it.
    private func fastClaimRows(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) async throws -> [PostgresRow]? {
        let bindings = Self.claimBindings(queues: queues, limits: limits, now: now, total: total, worker: worker, expiry: expiry)
        let rows = try await committedRows(HotSQL.FastClaim.self, bindings, "claim for worker '\(worker)'")
        guard let first = rows.first?.makeRandomAccess() else { return [] }
        if try first[12].decode(Bool.self) { return nil }
        limitedQueues.withLock { known in known.subtract(queues) }
        // Nothing claimed: the one row is all NULL but the flag.
        return first[0].bytes == nil ? [] : rows
    }

    /// Wakes local waiters and, with notifications on, every other process's.
    private func announceWork(_ queues: some Sequence<String>) async {
        workSignal.signal()
        guard configuration.notifications else { return }
        let names = Array(Set(queues))
        guard !names.isEmpty else { return }
        do {
            _ = try await rows(HotSQL.Notify.self, binds { $0.append(channel); $0.append(names) }, "notifying")
        } catch {
            logger.warning("notifying other processes failed; they notice at their next poll", metadata: ["spool.error": "\(error)"])
        }
    }

    // MARK: Enqueue

    /// Stores the jobs in one statement (all of them or, on an error, none) and notifies idle
    /// workers everywhere.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder (read in the same
    /// transaction). `whenFull` is ignored: the driver is unbounded.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists (or appears twice in the batch), `unencodablePayload`, or `storageUnavailable`;
    ///   nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        let insert = try InsertBatch(jobs, now: now)
        // COPY finds the table on the pool's search_path, which is set with prepared statements.
        // It encodes the payloads as it sends them; an INSERT's are encoded before any I/O.
        let copies = configuration.preparedStatements && !insert.hasUniqueKeys && insert.count >= CopyRows.minimumBatch
        let bodies = copies ? nil : try insert.bodies()
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        let results: [EnqueueResult]
        do {
            // In a transaction even for one statement: see `committedRows` (and the holders of
            // unique keys are read in the same transaction as the insert).
            results = try await withTransaction { connection in
                guard let bodies else {
                    try await self.copy(insert, on: connection)
                    return insert.storedResults
                }
                return try await self.insert(insert, bodies, on: connection, prepare: self.configuration.preparedStatements)
            }
        } catch {
            throw insert.mapError(error, target: target)
        }
        workSignal.signal()
        return results
    }

    /// Stores jobs on the caller's own connection, inside the caller's transaction: the jobs
    /// exist if and only if that transaction commits (transactional enqueue, the "outbox"
    /// pattern without an outbox).
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO orders ...", logger: logger)
    ///     _ = try await storage.enqueue([job], on: connection, now: Date())
    /// }
    /// ```
    /// The notification is sent by the same statement, so PostgreSQL delivers it only at commit
    /// (and drops it on rollback). The connection may belong to any pool on the same database;
    /// it needs no ``run()`` of this storage, only a migrated schema. Unique keys and errors
    /// behave as in ``enqueue(_:whenFull:now:)``; an error aborts the caller's transaction, as
    /// any failed statement does.
    public func enqueue(_ jobs: [NewJob], on connection: PostgresConnection, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        let insert = try InsertBatch(jobs, now: now)
        let bodies = try insert.bodies()
        do {
            // The caller's connection has the caller's search_path: no prepared statements.
            let results = try await onLoop(of: connection) { connection in
                try await self.insert(insert, bodies, on: connection, prepare: false)
            }
            workSignal.signal()
            return results
        } catch {
            throw insert.mapError(error, target: target)
        }
    }

    /// Stores a batch without unique keys with COPY (see ``CopyRows``) on a pooled connection,
    /// inside the transaction open on it, and notifies its queues in that transaction.
    private func copy(_ insert: InsertBatch, on connection: CheckedConnection) async throws {
        try await connection.copy(into: "jobs", columns: CopyRows.columns) { send in try await CopyRows.send(insert, to: send) }
        if configuration.notifications {
            _ = try await run(HotSQL.Notify.self, binds { $0.append(channel); $0.append(Array(Set(insert.queues))) }, on: connection, prepare: true)
        }
    }

    /// Inserts the batch on `connection` and reads the holders of the keys it could not take
    /// (only keyed jobs can be left out; nothing else is).
    private func insert(_ insert: InsertBatch, _ bodies: InsertBatch.Bodies, on connection: CheckedConnection, prepare: Bool) async throws -> [EnqueueResult] {
        if !insert.hasUniqueKeys {
            _ = configuration.notifications
                ? try await run(HotSQL.KeylessEnqueue.self, insert.bindings(bodies, channel: channel, keys: false), on: connection, prepare: prepare)
                : try await run(HotSQL.QuietKeylessEnqueue.self, insert.bindings(bodies, channel: nil, keys: false), on: connection, prepare: prepare)
            return insert.storedResults
        }
        let rows = configuration.notifications
            ? try await run(HotSQL.Enqueue.self, insert.bindings(bodies, channel: channel), on: connection, prepare: prepare)
            : try await run(HotSQL.QuietEnqueue.self, insert.bindings(bodies, channel: nil), on: connection, prepare: prepare)
        var holders: [PostgresRow] = []
        if rows.count < insert.count {
            holders = try await run(HotSQL.Holders.self, binds { $0.append(insert.keys) }, on: connection, prepare: prepare)
        }
        return try insert.results(inserted: rows, holders: holders)
    }

    // MARK: Claim

    /// Claims due jobs in one statement: for each demand of a queue that is not paused (demands
    /// of the same queue are merged), its available jobs and its scheduled jobs whose run-at has
    /// come, by priority (highest first), run-at, then id, within the demand's and the
    /// request's limits, locked with `FOR UPDATE SKIP LOCKED` and moved to `running` with a
    /// lease owned by `request.worker` until `now + request.lease`.
    ///
    /// Two claims never return the same job; concurrent claimers skip each other's rows instead
    /// of waiting. Cost: one index range scan per demanded queue, reading about the rows it
    /// returns. A queue with ``QueueLimits`` costs more: its row in the queues table is locked
    /// for the claim (claims of that queue take turns), and two more statements count its
    /// running jobs and recent starts and record the new ones.
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let total = request.limit
        guard total > 0 else { return [] }
        var queues: [String] = []
        var limits: [Int64] = []
        for demand in request.demands where demand.limit > 0 {
            if let index = queues.firstIndex(of: demand.queue) {
                limits[index] = min(Int64(total), limits[index] + Int64(demand.limit))
            } else {
                queues.append(demand.queue)
                limits.append(Int64(min(demand.limit, total)))
            }
        }
        guard !queues.isEmpty else { return [] }
        let nowMicros = PostgresCoding.micros(now)
        let expiry = nowMicros + PostgresCoding.micros(request.lease)
        let rows: [PostgresRow]
        if configuration.preparedStatements,
           let fast = try await fastClaimRows(queues: queues, limits: limits, now: nowMicros, total: Int64(total), worker: request.worker, expiry: expiry) {
            rows = fast
        } else {
            rows = try await claimRows(queues: queues, limits: limits, now: nowMicros, total: Int64(total), worker: request.worker, expiry: expiry)
        }
        var claimed: [(order: Int64, job: ClaimedJob)] = []
        claimed.reserveCapacity(rows.count)
        for row in rows {
            let cells = row.makeRandomAccess()
            claimed.append((try cells[11].decode(Int64.self), try PostgresCoding.claimed(cells)))
        }
        // RETURNING gives rows in no particular order: put them in claim order.
        claimed.sort { lhs, rhs in
            if lhs.order != rhs.order { return lhs.order < rhs.order }
            if lhs.job.priority != rhs.job.priority { return lhs.job.priority > rhs.job.priority }
            if lhs.job.runAt != rhs.job.runAt { return lhs.job.runAt < rhs.job.runAt }
            return lhs.job.id < rhs.job.id
        }
        return claimed.map(\.job)
    }

    // MARK: Finish, heartbeat, rescue

    /// Records how runs ended, in one statement over arrays (UNNEST). Each outcome is written
    /// only if the job is `running` with its lease held by `worker`; the others (rescued,
    /// cancelled, deleted, or claimed by another worker since) are returned and nothing is
    /// written for them.
    ///
    /// Snooze and hand-back give the attempt back; every outcome clears the lease and resets
    /// the count of expired leases; failures append to the error history (newest
    /// ``JobAttemptError/historyLimit`` kept). A hand-back notifies other processes.
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID] {
        guard !completions.isEmpty else { return [] }
        let batch = try FinishBatch(completions)
        let operation = "finish of \(completions.count) job(s) by worker '\(worker)'"
        if batch.succeededOnly {
            let row = try await committedRows(HotSQL.FinishSucceeded.self, batch.succeededBindings(worker: worker), operation).first
            let (queues, lost) = try row?.decode(([String], [UUID]).self) ?? ([], batch.ids)
            if !limitedQueues.withLock({ $0.isDisjoint(with: queues) }) { workSignal.signal() }
            return lost.map(PostgresCoding.id)
        }
        let rows = try await committedRows(HotSQL.Finish.self, batch.bindings(worker: worker), operation)
        var written = Set<JobID>(minimumCapacity: rows.count)
        var madeAvailable: [String] = []
        var queues = Set<String>()
        for row in rows {
            let (uuid, state, queue) = try row.decode((UUID, String, String).self)
            written.insert(PostgresCoding.id(uuid))
            queues.insert(queue)
            if state == JobState.available.rawValue { madeAvailable.append(queue) }
        }
        if !madeAvailable.isEmpty {
            await announceWork(madeAvailable)
        } else if batch.reschedules || !limitedQueues.withLock({ $0.isDisjoint(with: queues) }) {
            workSignal.signal()
        }
        return completions.map(\.id).filter { !written.contains($0) }
    }

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// statement.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID] {
        guard !beats.isEmpty else { return [] }
        var progress: [String] = []
        var hasProgress: [Bool] = []
        for beat in beats {
            let encoded = try PostgresCoding.encodeProgress(beat.progress)
            progress.append(encoded ?? "")
            hasProgress.append(encoded != nil)
        }
        let bindings = binds {
            $0.append(PostgresCoding.micros(now) + PostgresCoding.micros(lease))
            $0.append(PostgresArray(.uuids(beats.map { PostgresCoding.uuid($0.id) })))
            $0.append(PostgresArray(.texts(progress)))
            $0.append(PostgresArray(.bools(hasProgress)))
            $0.append(worker)
        }
        let rows = try await rows(HotSQL.Heartbeat.self, bindings, "heartbeat of \(beats.count) job(s) by worker '\(worker)'")
        let held = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        return beats.map(\.id).filter { !held.contains($0) }
    }

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt (the crashed run counted) and recording a `lease_expired` error; a job whose
    /// lease has now expired more than `poisonAfter` times in a row goes to `dead` with a
    /// `poison` error instead. One statement; reads only the expired leases (an index orders
    /// running jobs by lease expiry); rows locked by a concurrent finish are left for the next
    /// rescue. Safe to run from several processes at once.
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let rows = try await committedRows(sql.rescue, binds {
            $0.append(PostgresCoding.micros(now))
            $0.append(Int64(poisonAfter))
        }, "rescue of expired leases")
        var rescued: [(JobID, String)] = []
        var poisoned: [JobID] = []
        for row in rows {
            let (uuid, state, queue) = try row.decode((UUID, String, String).self)
            let id = PostgresCoding.id(uuid)
            if state == JobState.dead.rawValue { poisoned.append(id) } else { rescued.append((id, queue)) }
        }
        rescued.sort { $0.0 < $1.0 }
        poisoned.sort()
        if !rescued.isEmpty { await announceWork(rescued.map(\.1)) }
        return RescueReport(rescued: rescued.map(\.0), poisoned: poisoned)
    }

    // MARK: Waiting

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused) has an available job or a due
    /// scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at, and ``Configuration/pollInterval`` from now, or until a notification
    /// (an enqueue, hand-back, retry, rescue or resume in any process) or a local change wakes
    /// it. Cost: one indexed read per call.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let now = clock.now
        let nowMicros = PostgresCoding.micros(now)
        var until = min(deadline, now.adding(configuration.pollInterval))
        do {
            let rows = try await rows(HotSQL.Ready.self, binds { $0.append(queues); $0.append(nowMicros) }, "checking for work")
            if let row = rows.first {
                let (ready, nextDue) = try row.decode((Bool, Int64?).self)
                if ready { return }
                if let nextDue { until = min(until, PostgresCoding.date(micros: nextDue)) }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("checking for work failed; waiting for the next poll", metadata: ["spool.error": "\(error)"])
            // The poll in real time: a test's manual clock must not stall a store that failed.
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            return
        }
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    // MARK: Inspection

    /// The job with `id`, or nil. One indexed read.
    public func job(_ id: JobID) async throws -> JobRecord? {
        try await rows(HotSQL.Job.self, binds { $0.append(PostgresCoding.uuid(id)) }, "reading job \(id)").first.map(PostgresCoding.record)
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at a million),
    /// after the cursor. Cost: walks the id index (or, for only scheduled, dead and cancelled
    /// jobs, the state index) until `limit` matches.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        var clauses: [String] = []
        var bindings = PostgresBindings()
        if let states = filter.states {
            if states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
            bindings.append(states.map(\.rawValue).sorted())
            clauses.append("state = ANY($\(bindings.count)::text[])")
            // The partial state index's own predicate, so the planner can take it.
            if states.allSatisfy(PostgresSchema.stateIndexHolds) {
                clauses.append("state IN (\(PostgresSchema.stateIndexStates))")
            }
        }
        if let queue = filter.queue {
            bindings.append(queue)
            clauses.append("queue = $\(bindings.count)")
        }
        if let kind = filter.kind {
            bindings.append(kind)
            clauses.append("kind = $\(bindings.count)")
        }
        if let after {
            bindings.append(PostgresCoding.uuid(after))
            clauses.append("id < $\(bindings.count)")
        }
        bindings.append(Int64(limit + 1))
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let statement = "SELECT \(PostgresCoding.recordColumns) FROM \(sql.jobs) \(whereClause) ORDER BY id DESC LIMIT $\(bindings.count)"
        let rows = try await rows(statement, bindings, "listing jobs")
        let jobs = try rows.prefix(limit).map(PostgresCoding.record)
        return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
    }

    /// Counts by queue and state. Cost: one scan of the state index.
    public func stats() async throws -> StorageStats {
        var stats = StorageStats()
        let counted: [PostgresRow]
        if configuration.preparedStatements {
            // The pool's sessions have sequential scans off (see `init`); counting wants one.
            counted = try await performing("counting jobs") {
                try await withTransaction { connection in
                    _ = try await connection.query("SELECT set_config('enable_seqscan', 'on', true), set_config('enable_bitmapscan', 'on', true)")
                    return try await connection.query(PostgresQuery(unsafeSQL: self.sql.stats))
                }
            }
        } else {
            counted = try await rows(sql.stats, PostgresBindings(), "counting jobs")
        }
        for row in counted {
            let (queue, state, count) = try row.decode((String, String, Int).self)
            stats.queues[queue, default: [:]][try PostgresCoding.state(state)] = count
        }
        return stats
    }

    // MARK: Operator actions

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one statement. A job whose unique key another live job holds now is
    /// not retried.
    /// - Returns: the ids that were retried, in the order given.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = PostgresCoding.micros(now)
        var retried: [(JobID, String)] = []
        do {
            retried = try await retryRows(ids, nowMicros)
        } catch let error as SpoolError where error.message.contains("23505") {
            // Two of the batch share a unique key: retry one by one, the first one wins.
            for id in ids {
                do {
                    retried += try await retryRows([id], nowMicros)
                } catch let error as SpoolError where error.message.contains("23505") {
                    continue
                }
            }
        }
        if !retried.isEmpty { await announceWork(retried.map(\.1)) }
        let done = Set(retried.map(\.0))
        return ids.filter { done.contains($0) }
    }

    private func retryRows(_ ids: [JobID], _ nowMicros: Int64) async throws -> [(JobID, String)] {
        let rows = try await committedRows(sql.retry, binds {
            $0.append(ids.map(PostgresCoding.uuid))
            $0.append(nowMicros)
        }, "retry of \(ids.count) job(s)")
        return try rows.map { row in
            let (uuid, queue) = try row.decode((UUID, String).self)
            return (PostgresCoding.id(uuid), queue)
        }
    }

    /// Cancels jobs that have not finished, in one statement, recording a `cancelled` error.
    /// A running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// - Returns: the ids that were cancelled, in the order given.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let rows = try await committedRows(sql.cancel, binds {
            $0.append(ids.map(PostgresCoding.uuid))
            $0.append(PostgresCoding.micros(now))
        }, "cancel of \(ids.count) job(s)")
        let done = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        if !done.isEmpty { workSignal.signal() }  // a running job's slot under a max-running limit is free
        return ids.filter { done.contains($0) }
    }

    /// Deletes jobs in any state, in one statement. A running job's worker loses its lease.
    /// - Returns: the ids that existed and were deleted, in the order given.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let rows = try await committedRows(sql.delete, binds { $0.append(ids.map(PostgresCoding.uuid)) }, "delete of \(ids.count) job(s)")
        let done = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        if !done.isEmpty { workSignal.signal() }
        return ids.filter { done.contains($0) }
    }

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one statement. Cost: an index range over finished jobs.
    /// - Returns: how many were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let rows = try await committedRows(sql.prune, binds {
            $0.append(PostgresCoding.micros(before))
            $0.append(Int64(limit))
        }, "prune of finished jobs")
        return try rows.first?.decode(Int.self) ?? 0
    }

    // MARK: Queues

    /// Pauses or resumes a queue for every process sharing the schema: a paused queue keeps
    /// accepting jobs but claims hand none out. A resume notifies idle workers everywhere.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        _ = try await committedRows(sql.setPaused, binds { $0.append(queue); $0.append(paused) }, "\(paused ? "pausing" : "resuming") queue '\(queue)'")
        if !paused { await announceWork([queue]) }
    }

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        Set(try await rows(sql.paused, PostgresBindings(), "reading paused queues").map { try $0.decode(String.self) })
    }

    /// Sets a queue's limits for every process sharing the schema (kept in its queues table);
    /// claims that start after it commits honour them. Notifies idle workers everywhere.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        _ = try await committedRows(sql.setLimits, binds {
            $0.append(queue)
            $0.append(limits.maxRunning.map(Int32.init))
            $0.append(limits.rate.map { Int32($0.count) })
            $0.append(limits.rate.map { PostgresCoding.micros($0.period) })
        }, "setting the limits of queue '\(queue)'")
        await announceWork([queue])
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        var limits: [String: QueueLimits] = [:]
        for row in try await rows(sql.limits, PostgresBindings(), "reading queue limits") {
            let (name, maxRunning, rateLimit, period) = try row.decode((String, Int32?, Int32?, Int64?).self)
            limits[name] = PostgresCoding.limits(maxRunning: maxRunning, rateLimit: rateLimit, periodMicros: period)
        }
        return limits
    }
}
