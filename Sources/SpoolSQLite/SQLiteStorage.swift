import Foundation
import GRDB
import Logging
import Spool
import Synchronization

/// The embedded, durable driver: jobs live in one SQLite file (WAL mode), shared by every
/// thread of a process and by every process on the machine that opens the same file.
///
/// ```swift
/// let storage = try SQLiteStorage(path: "spool.sqlite")
/// let client = SpoolClient(storage: storage, registry: registry)
/// ```
///
/// Durability: an operation returns only after its transaction committed, so it survives a
/// crash of any process. With the default ``Configuration/Durability-swift.struct/full`` an
/// enqueue (and any change made through the inspection API) is also on disk when it returns
/// (the WAL is synced), so an enqueued job survives a power loss. Claims, heartbeats and
/// outcomes return before their sync, which follows within ``Configuration/syncInterval``
/// (1 s): a power loss can only make a job run again, never lose it
/// (``Configuration/syncsOutcomes`` syncs outcomes at once instead). WAL checkpoints run on a
/// connection of their own, off the writer's thread.
///
/// Several processes (same machine): every write is one `BEGIN IMMEDIATE` transaction, so
/// writers, claims included, take SQLite's single write lock one after another; a claim moves
/// each job it returns from `available` to `running` inside that transaction, so no two claims,
/// from any thread or process, ever return the same job. A writer that finds the lock taken
/// waits up to ``Configuration/busyTimeout`` and then fails with `storageUnavailable`. Readers
/// (inspection, stats, wake-up checks) never wait for writers. An enqueue wakes idle workers of
/// its own process at once; workers in other processes notice it within
/// ``Configuration/pollInterval``. The file must be on a local file system (WAL needs shared
/// memory between the processes; network file systems do not provide it). Times (run-at, lease
/// expiry) come from each caller's clock, so processes sharing a file must share the machine's
/// clock (they do, on one machine) and pass it, not a private one.
///
/// Costs: one transaction (one disk sync with `full`) per batch operation, whatever its size;
/// a claim reads only the jobs it returns (an index orders each queue's available jobs by
/// priority, run-at and id), so its cost stays flat as the backlog grows. Writes run on GRDB's
/// writer queue, reads on a pool of reader connections; neither blocks Swift's cooperative
/// threads.
///
/// Storage operations are not cancellable once called: a transaction either commits or rolls
/// back as a whole, so a worker's outcomes are stored even while its task is being cancelled.
public final class SQLiteStorage: JobStorage, JobFinishObserving, Sendable {
    /// Settings of the SQLite driver. Every field has a working default.
    public struct Configuration: Sendable {
        /// How hard a commit works to be on disk (SQLite's `synchronous` setting).
        public struct Durability: Sendable, Hashable, CustomStringConvertible {
            let pragma: String

            /// Every commit syncs the WAL: a committed job survives a power loss. The default.
            /// Costs one `fsync` per transaction (about 1–5 ms on common disks).
            public static let full = Durability(pragma: "FULL")
            /// The WAL is synced only at checkpoints: a commit survives a crash of the process
            /// but the last commits may be lost on a power loss or an OS crash. Faster.
            public static let normal = Durability(pragma: "NORMAL")
            /// Like `full`, and also syncs the folder after the WAL is reset.
            public static let extra = Durability(pragma: "EXTRA")

            public var description: String { pragma.lowercased() }
        }

        /// How hard a commit works to be on disk. Default ``Durability-swift.struct/full``.
        public var durability: Durability
        /// How long a write waits for another connection or process to release SQLite's write
        /// lock before failing with `storageUnavailable`; zero fails at once. The wait retries
        /// every 0.1–1 ms (SQLite's own busy timeout backs off to 100 ms between tries, which
        /// lets a busy process starve the others). Default 10 s.
        public var busyTimeout: Duration
        /// The longest an idle ``SQLiteStorage/waitForWork(queues:deadline:clock:)`` sleeps before
        /// looking at the file again, so jobs enqueued by other processes are noticed. In-process
        /// enqueues wake waiters at once whatever this is. Each poll is one indexed read. Also
        /// the poll period of ``SQLiteStorage/waitUntilFinished(_:)`` for jobs finished by other
        /// processes. Default 200 ms.
        public var pollInterval: Duration
        /// The most reader connections (inspection and wake-up checks run on them in
        /// parallel). Default 4.
        public var readers: Int
        /// Whether opening brings an older file (or a new, empty one) to the current schema.
        /// When false, opening a file whose schema is older than this build fails with a
        /// message naming `spool migrate`, and ``SQLiteStorage/migrate(path:configuration:)``
        /// migrates explicitly (for deployments that migrate as a separate step). Default true.
        public var migrateOnOpen: Bool
        /// Whether a worker's outcomes (``SQLiteStorage/finish(_:worker:)``) wait for the disk
        /// like enqueues do. Default false: an outcome's commit returns once it is in the WAL,
        /// safe from a crash of any process, and reaches the disk within ``syncInterval``. A
        /// power loss (or OS crash) before that puts the job back to `running` with its lease,
        /// so it is rescued and runs again: at least once, as always, and never lost. That
        /// saves a disk sync per batch of outcomes (about half a millisecond here). Claims and
        /// heartbeats never wait for the disk, for the same reason.
        public var syncsOutcomes: Bool
        /// The longest a commit that did not wait for the disk (a claim, heartbeat, or outcome
        /// unless ``syncsOutcomes``) stays off it: a WAL checkpoint, which syncs first, runs
        /// on a connection of its own by then. Default 1 s.
        public var syncInterval: Duration
        /// Where the driver reports trouble it cannot throw (a failed wake-up check).
        public var logger: Logger

        public init(
            durability: Durability = .full, busyTimeout: Duration = .seconds(10),
            pollInterval: Duration = .milliseconds(200), readers: Int = 4, migrateOnOpen: Bool = true,
            syncsOutcomes: Bool = false, syncInterval: Duration = .seconds(1),
            logger: Logger = Logger(label: "spool.sqlite")
        ) {
            self.syncsOutcomes = syncsOutcomes
            self.syncInterval = syncInterval
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.pollInterval = pollInterval
            self.readers = max(1, readers)
            self.migrateOnOpen = migrateOnOpen
            self.logger = logger
        }
    }

    /// The path of the database file.
    public let path: String
    /// The settings the store was opened with.
    public let configuration: Configuration
    private let pool: DatabasePool
    /// Deletes the file (and its -wal and -shm companions) when the storage is released.
    private let isTemporary: Bool
    /// Signalled when a job may have become claimable here (enqueue, retry, hand-back, rescue,
    /// resume, a retry or snooze that sets a new run-at).
    private let workSignal = WakeSignal()
    /// Wakes waiters of jobs that reach a final state or are deleted in this process.
    private let finishWatch = FinishWatch()
    /// Set by ``close()``: operations then fail with a clear error.
    private let closed = Atomic<Bool>(false)
    /// Checkpoints the WAL off the writer's thread, and syncs unsynced commits in time.
    let checkpointer: WALCheckpointer

    /// The newest schema version this build knows; ``migrate(path:configuration:)`` (or an open
    /// with ``Configuration/migrateOnOpen``) brings a file to it.
    public static var schemaVersion: Int { SQLiteSchema.latestVersion }

    /// Opens (creating it if needed) the database file at `path` and, unless
    /// ``Configuration/migrateOnOpen`` is false, migrates it to ``schemaVersion``.
    ///
    /// Blocks the calling thread while it opens and migrates the file (a few milliseconds;
    /// up to ``Configuration/busyTimeout`` when another process holds the write lock). Several
    /// processes may open and migrate the same file at once: migrations run one after another.
    ///
    /// - Throws: ``SpoolError`` with code `storageUnavailable` when the file cannot be opened,
    ///   is not an SQLite database, is corrupt or locked, or has a schema newer than this build
    ///   (or older, with `migrateOnOpen` false). The message names the file; a failed open
    ///   changes no data in it. (An existing SQLite file is switched to WAL mode, a lasting
    ///   setting of the file, before its schema is checked.)
    public convenience init(path: String, configuration: Configuration = Configuration()) throws {
        try self.init(path: path, configuration: configuration, schema: configuration.migrateOnOpen ? .migrate : .require, isTemporary: false)
    }

    /// A store in a new file in the temporary folder, deleted when the storage is released
    /// (for tests and benchmarks).
    public static func temporary(configuration: Configuration = Configuration()) throws -> SQLiteStorage {
        let name = "spool-\(UUID().uuidString).sqlite"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        return try SQLiteStorage(path: path, configuration: configuration, schema: .migrate, isTemporary: true)
    }

    /// What opening does about the file's schema version.
    private enum SchemaOnOpen {
        /// Migrate to the latest version (refusing a newer file).
        case migrate
        /// Refuse any version but the latest.
        case require
        /// Leave it to the caller (``migrate(path:configuration:)``).
        case unchecked
    }

    private init(path: String, configuration: Configuration, schema: SchemaOnOpen, isTemporary: Bool) throws {
        self.path = path
        self.configuration = configuration
        self.isTemporary = isTemporary
        checkpointer = WALCheckpointer(path: path, syncInterval: configuration.syncInterval, logger: configuration.logger)
        var grdb = GRDB.Configuration()
        grdb.label = "spool.sqlite"
        grdb.busyMode = configuration.busyTimeout > .zero
            ? .callback(BusyWait(timeout: configuration.busyTimeout).retry)
            : .immediateError
        grdb.maximumReaderCount = configuration.readers
        do {
            pool = try DatabasePool(path: path, configuration: grdb)
        } catch {
            if isTemporary { Self.removeFiles(path) }
            throw SpoolError.sqlite(error, path: path, operation: "opening the file", busyTimeout: configuration.busyTimeout)
        }
        do {
            try pool.writeWithoutTransaction { db in
                try Self.checkLibraryVersion(db, path: path)
                // GRDB sets NORMAL when it turns WAL on; set ours after it.
                try db.execute(sql: "PRAGMA synchronous = \(configuration.durability.pragma)")
                checkpointer.install(on: db)
                try db.inTransaction(.immediate) {
                    switch schema {
                    case .migrate:
                        _ = try SQLiteSchema.migrate(db, path: path, now: Date())
                    case .require:
                        let version = try SQLiteSchema.version(db)
                        if version > SQLiteSchema.latestVersion { throw SQLiteSchema.tooNew(path: path, version: version) }
                        if version < SQLiteSchema.latestVersion { throw SQLiteSchema.tooOld(path: path, version: version) }
                    case .unchecked:
                        break
                    }
                    return .commit
                }
            }
        } catch {
            try? pool.close()
            if isTemporary { Self.removeFiles(path) }
            throw SpoolError.sqlite(error, path: path, operation: "opening the file", busyTimeout: configuration.busyTimeout)
        }
    }

    /// The oldest SQLite the queries work with: `UPDATE … RETURNING` needs 3.35.
    static let minimumLibraryVersion = (3, 35)

    private static func checkLibraryVersion(_ db: Database, path: String) throws {
        let version = try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "0"
        let parts = version.split(separator: ".").compactMap { Int($0) }
        let (major, minor) = (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
        if (major, minor) < minimumLibraryVersion {
            throw SpoolError(
                code: .storageUnavailable,
                message: "SQLite job store '\(path)': the SQLite library is version \(version); Spool needs \(minimumLibraryVersion.0).\(minimumLibraryVersion.1) or newer"
            )
        }
    }

    deinit {
        checkpointer.close()
        if isTemporary {
            try? pool.close()
            Self.removeFiles(path)
        }
    }

    private static func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }

    /// Closes the file's connections. Later operations fail with `storageUnavailable`.
    /// Blocks until running operations end.
    /// - Throws: ``SpoolError`` when SQLite cannot close the connections (they stay open).
    public func close() throws {
        do {
            checkpointer.close()
            try pool.close()
            closed.store(true, ordering: .sequentiallyConsistent)
        } catch {
            throw SpoolError.sqlite(error, path: path, operation: "closing", busyTimeout: configuration.busyTimeout)
        }
    }

    /// The writer connection's `synchronous` setting (0 off, 1 normal, 2 full, 3 extra), for tests.
    func writerSynchronous() throws -> Int? {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    /// The schema version of the file (``schemaVersion`` once migrated).
    public func fileSchemaVersion() async throws -> Int {
        try await read("reading the schema version") { db in try SQLiteSchema.version(db) }
    }

    /// Brings the file at `path` (created if missing) to ``schemaVersion``: what `spool migrate`
    /// runs. A no-op for an up-to-date file; ``SQLiteMigrationReport/from`` tells the version
    /// found. Opens the file, migrates it in one IMMEDIATE transaction (concurrent migrations
    /// from other processes run one after another; a failed migration leaves the file as it
    /// was) and closes it. Blocks the calling thread meanwhile.
    /// - Throws: ``SpoolError`` (`storageUnavailable`) when the file's schema is newer than this
    ///   build, naming both versions; or when the file cannot be opened, is not a database, or is
    ///   locked, corrupt or unwritable.
    @discardableResult
    public static func migrate(path: String, configuration: Configuration = Configuration()) throws -> SQLiteMigrationReport {
        let storage = try SQLiteStorage(path: path, configuration: configuration, schema: .unchecked, isTemporary: false)
        defer { try? storage.close() }
        do {
            return try storage.pool.write { db in try SQLiteSchema.migrate(db, path: path, now: Date()) }
        } catch {
            throw SpoolError.sqlite(error, path: path, operation: "migrating the schema", busyTimeout: configuration.busyTimeout)
        }
    }

    // MARK: Running SQL off the cooperative pool

    private func checkOpen(_ operation: String) throws {
        if closed.load(ordering: .sequentiallyConsistent) {
            throw SpoolError(code: .storageUnavailable, message: "SQLite job store '\(path)': \(operation) failed: the storage is closed")
        }
    }

    /// Runs `body` in one IMMEDIATE transaction on the writer connection. Not cancellable:
    /// the transaction commits or rolls back as a whole.
    ///
    /// `synced: false` commits without waiting for the disk (`synchronous = NORMAL` for this
    /// transaction), whatever ``Configuration/durability`` says: for claims, heartbeats and
    /// (unless ``Configuration/syncsOutcomes``) outcomes, whose loss in a power cut (or OS
    /// crash) only puts a job back to where it was before, so it runs again (at least once,
    /// as always). The checkpointer syncs such commits within ``Configuration/syncInterval``,
    /// and the next synced commit (an enqueue) syncs them too.
    private func write<T: Sendable>(
        _ operation: String, synced: Bool = true, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try checkOpen(operation)
        let path = self.path
        let busyTimeout = configuration.busyTimeout
        let relaxed = !synced && configuration.durability != .normal
        let logger = configuration.logger
        let checkpointer = self.checkpointer
        let restore = "PRAGMA synchronous = \(configuration.durability.pragma)"
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pool.asyncWriteWithoutTransaction { db in
                do {
                    var value: T?
                    if relaxed { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                    defer {
                        // A pragma on an open connection does not fail; if it ever did, say so:
                        // later commits would not wait for the disk.
                        if relaxed {
                            do { try db.execute(sql: restore) } catch {
                                logger.error("could not restore synchronous commits on the writer connection", metadata: [
                                    "spool.error": "\(error)", "spool.sqlite.path": "\(path)",
                                ])
                            }
                        }
                    }
                    try db.inTransaction(.immediate) {
                        value = try body(db)
                        return .commit
                    }
                    if relaxed { checkpointer.commitUnsynced() }
                    continuation.resume(returning: value!)
                } catch {
                    continuation.resume(throwing: SpoolError.sqlite(error, path: path, operation: operation, busyTimeout: busyTimeout))
                }
            }
        }
    }

    /// Runs `body` in a read transaction on a reader connection (a consistent snapshot of the
    /// last commit).
    private func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen(operation)
        let path = self.path
        let busyTimeout = configuration.busyTimeout
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pool.asyncRead { result in
                do {
                    continuation.resume(returning: try body(try result.get()))
                } catch {
                    continuation.resume(throwing: SpoolError.sqlite(error, path: path, operation: operation, busyTimeout: busyTimeout))
                }
            }
        }
    }

    // MARK: Enqueue

    /// A new job's column values, prepared (payload encoded) before the transaction.
    private struct InsertRow: Sendable {
        let id: JobID
        let queue: String
        let kind: String
        let payload: [UInt8]
        let priority: Int
        let state: JobState
        let maxAttempts: Int
        let runAt: Int64
        let createdAt: Int64
        let uniqueKey: String?
        let timeout: Int64?
        let metadata: String?
    }

    /// Stores the jobs in one transaction: all of them or (on an error) none.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder. `whenFull` is
    /// ignored: the SQLite driver is unbounded.
    ///
    /// Cost: one transaction; jobs without a unique key are inserted up to 64 per statement,
    /// jobs with one a statement each.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists, `unencodablePayload`, or `storageUnavailable`; nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let rows: [InsertRow] = try jobs.map { job in
            try job.validate()
            let runAt = SQLiteCoding.micros(job.runAt)
            return InsertRow(
                id: job.id, queue: job.queue, kind: job.kind, payload: try job.payload.encoded(),
                priority: job.priority, state: runAt > nowMicros ? .scheduled : .available,
                maxAttempts: job.maxAttempts, runAt: runAt, createdAt: SQLiteCoding.micros(job.createdAt),
                uniqueKey: job.uniqueKey, timeout: job.timeout.map(SQLiteCoding.micros),
                metadata: try SQLiteCoding.encodeMetadata(job.metadata)
            )
        }
        let results = try await write("enqueue of \(jobs.count) job(s)") { db in
            try Self.insert(rows, db)
        }
        if results.contains(where: { !$0.existing }) { workSignal.signal() }
        return results
    }

    private static let insertSQL = """
        INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, timeout_us, metadata)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND \(SQLiteSchema.liveCondition) DO NOTHING
        """

    /// The most jobs without a unique key one INSERT statement stores (11 parameters each).
    static let insertChunkSize = 64

    /// An INSERT of `count` jobs without a unique key (their `unique_key` is NULL, so they
    /// cannot conflict on it; an id that exists fails the whole statement).
    private static let chunkInsertSQL: [Int: String] = {
        var sql: [Int: String] = [:]
        var count = insertChunkSize
        while count >= 1 {
            let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
            sql[count] = """
                INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                VALUES \(values)
                """
            count /= 2
        }
        return sql
    }()

    private static let holderSQL = """
        SELECT id, state FROM spool_jobs INDEXED BY spool_jobs_unique_key WHERE unique_key = ? AND \(SQLiteSchema.liveCondition)
        """

    private static func insert(_ rows: [InsertRow], _ db: Database) throws -> [EnqueueResult] {
        var results: [EnqueueResult] = []
        results.reserveCapacity(rows.count)
        // Runs of jobs without a unique key go in multi-row statements (in order, chunks of
        // `insertChunkSize`, then halves: few distinct statements to cache); a job with a unique key
        // is inserted on its own, so its result can name the holder of the key.
        var start = 0
        while start < rows.count {
            if rows[start].uniqueKey != nil {
                results.append(try insertOne(rows[start], db))
                start += 1
                continue
            }
            var end = start
            while end < rows.count, end - start < insertChunkSize, rows[end].uniqueKey == nil { end += 1 }
            var size = insertChunkSize
            while start < end {
                while size > end - start { size /= 2 }
                try insertChunk(rows[start..<(start + size)], db)
                for row in rows[start..<(start + size)] {
                    results.append(EnqueueResult(id: row.id, state: row.state, existing: false))
                }
                start += size
            }
        }
        return results
    }

    /// Inserts jobs without a unique key in one statement. When an id already exists the
    /// statement stores nothing, and the jobs are inserted one by one to name the id.
    private static func insertChunk(_ rows: ArraySlice<InsertRow>, _ db: Database) throws {
        guard rows.count > 1, let sql = chunkInsertSQL[rows.count] else {
            for row in rows { _ = try insertOne(row, db) }
            return
        }
        let statement = try db.cachedStatement(sql: sql)
        var binder = statement.rawBinder(db)
        for row in rows {
            try bindColumns(row, uniqueKey: false, &binder)
        }
        do {
            try statement.execute()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            // The failed statement changed nothing: find the id one job at a time.
            for row in rows { _ = try insertOne(row, db) }
            throw error  // not reached: one of them failed
        }
    }

    /// Binds one job's columns in the order of the insert statements; `uniqueKey` for the
    /// single-row statement (the multi-row one is for jobs without a key and has no such column).
    private static func bindColumns(_ row: InsertRow, uniqueKey: Bool, _ binder: inout RawBinder) throws {
        try binder.bind(row.id)
        try binder.bind(row.queue)
        try binder.bind(row.kind)
        try binder.bindBlobOrNull(row.payload)
        try binder.bind(row.priority)
        try binder.bind(row.state.rawValue)
        try binder.bind(row.maxAttempts)
        try binder.bind(row.runAt)
        try binder.bind(row.createdAt)
        if uniqueKey { try binder.bind(row.uniqueKey) }
        try binder.bind(row.timeout)
        try binder.bind(row.metadata)
    }

    /// Inserts one job; a unique key held by a live job stores nothing and names the holder.
    private static func insertOne(_ row: InsertRow, _ db: Database) throws -> EnqueueResult {
        let insert = try db.cachedStatement(sql: Self.insertSQL)
        var binder = insert.rawBinder(db)
        try bindColumns(row, uniqueKey: true, &binder)
        do {
            try insert.execute()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw SpoolError(code: .invalidArgument, message: "a job with id \(row.id) already exists", job: row.id)
        }
        if db.changesCount > 0 {
            return EnqueueResult(id: row.id, state: row.state, existing: false)
        }
        // The unique key is held by a live job: name it.
        guard let key = row.uniqueKey,
              let holder = try Row.fetchOne(db.cachedStatement(sql: Self.holderSQL), arguments: [key]) else {
            throw SpoolError(code: .storageUnavailable, message: "job \(row.id) was not stored and no live job holds its unique key", job: row.id)
        }
        return EnqueueResult(
            id: try SQLiteCoding.id(holder.decode(atIndex: 0)), state: try SQLiteCoding.state(holder.decode(atIndex: 1)),
            existing: true
        )
    }

    // MARK: Claim

    /// Makes due scheduled jobs available (all queues): an index range over `spool_jobs_due`,
    /// touching only the jobs that became due.
    private static let promoteSQL = """
        UPDATE spool_jobs INDEXED BY spool_jobs_due SET state = 'available' WHERE state = 'scheduled' AND run_at <= ?
        """

    private static let pausedSQL = "SELECT name FROM spool_queues WHERE paused <> 0"

    /// Claims up to `?5` available jobs of queue `?4`, in claim order, through `spool_jobs_claim`.
    private static let claimSQL = """
        UPDATE spool_jobs
        SET state = 'running', attempt = attempt + 1, attempted_at = ?1, lease_owner = ?2, lease_expires_at = ?3
        WHERE rowid IN (
            SELECT rowid FROM spool_jobs INDEXED BY spool_jobs_claim WHERE state = 'available' AND queue = ?4
            ORDER BY priority DESC, run_at, id LIMIT ?5
        )
        RETURNING \(SQLiteCoding.claimedColumns)
        """

    /// Claims due jobs in one transaction: promotes due scheduled jobs, then for each demand of
    /// a queue that is not paused takes its available jobs by priority (highest first), run-at,
    /// then id, within the demand's and the request's limits, and moves them to `running` with
    /// a lease owned by `request.worker` until `now + request.lease`.
    ///
    /// Two claims never return the same job, whichever processes make them. Cost: one write
    /// transaction that does not wait for the disk (a claim lost in a power cut puts the job
    /// back in line: see `write(_:synced:_:)`); index reads proportional to the jobs returned
    /// (plus the jobs that became due).
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let demands = request.demands.filter { $0.limit > 0 }
        guard request.limit > 0, !demands.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let expiry = nowMicros + SQLiteCoding.micros(request.lease)
        let worker = request.worker
        let total = request.limit
        return try await write("claim for worker '\(worker)'", synced: false) { db in
            try db.cachedStatement(sql: Self.promoteSQL).execute(arguments: [nowMicros])
            let settings = try Self.queueSettings(db)
            let statement = try db.cachedStatement(sql: Self.claimSQL)
            var claimed: [ClaimedJob] = []
            for demand in demands where claimed.count < total && !settings.paused.contains(demand.queue) {
                var limit = min(demand.limit, total - claimed.count)
                let limits = settings.limits[demand.queue]
                if let limits {
                    limit = min(limit, try Self.allowance(limits, queue: demand.queue, now: nowMicros, db).jobs)
                    if limit == 0 { continue }
                }
                let rows = try Row.fetchCursor(statement, arguments: [nowMicros, worker, expiry, demand.queue, limit])
                var batch: [ClaimedJob] = []
                batch.reserveCapacity(limit)
                let columns = RawColumns(statement: statement.sqliteStatement)
                while try rows.next() != nil {
                    batch.append(try SQLiteCoding.claimed(columns))
                }
                // RETURNING gives rows in no particular order: put them in claim order.
                claimed += batch.sorted(by: Self.claimOrder)
                if limits?.rate != nil, !batch.isEmpty {
                    try db.cachedStatement(sql: Self.recordStartsSQL).execute(arguments: [demand.queue, nowMicros, batch.count])
                }
            }
            return claimed
        }
    }

    /// Paused queues and queue limits: the whole (small) `spool_queues` table.
    private static let queueSettingsSQL = "SELECT name, paused, max_running, rate_limit, rate_period_us FROM spool_queues"
    private static let runningInQueueSQL = """
        SELECT COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_lease WHERE state = 'running' AND queue = ?
        """
    private static let dropOldStartsSQL = "DELETE FROM spool_queue_starts WHERE queue = ? AND at <= ?"
    private static let startsSQL = "SELECT at, count FROM spool_queue_starts WHERE queue = ? ORDER BY at"
    private static let recordStartsSQL = "INSERT INTO spool_queue_starts (queue, at, count) VALUES (?, ?, ?)"
    private static let anyMaxRunningSQL = "SELECT EXISTS (SELECT 1 FROM spool_queues WHERE max_running IS NOT NULL)"

    private struct QueueSettings {
        var paused: Set<String> = []
        var limits: [String: QueueLimits] = [:]
    }

    private static func queueSettings(_ db: Database) throws -> QueueSettings {
        var settings = QueueSettings()
        for row in try Row.fetchAll(db.cachedStatement(sql: Self.queueSettingsSQL)) {
            let name: String = try row.decode(atIndex: 0)
            if try row.decode(atIndex: 1) as Bool { settings.paused.insert(name) }
            let maxRunning: Int64? = try row.decode(atIndex: 2)
            let rateLimit: Int64? = try row.decode(atIndex: 3)
            let periodMicros: Int64? = try row.decode(atIndex: 4)
            let limits = QueueLimits.stored(maxRunning: maxRunning, rateCount: rateLimit, period: periodMicros.map { .microseconds($0) })
            if !limits.isNone { settings.limits[name] = limits }
        }
        return settings
    }

    /// What `limits` allow a claim in `queue` at `now`: counts the queue's running jobs (an
    /// index range) and its starts in the rate window (dropping older ones when `writing`).
    private static func allowance(_ limits: QueueLimits, queue: String, now: Int64, _ db: Database, writing: Bool = true) throws -> QueueAllowance {
        let running = limits.maxRunning == nil ? 0 : try Int.fetchOne(db.cachedStatement(sql: Self.runningInQueueSQL), arguments: [queue]) ?? 0
        var starts: [(at: Date, count: Int)] = []
        if let rate = limits.rate {
            let windowStart = now - SQLiteCoding.micros(rate.period)
            if writing { try db.cachedStatement(sql: Self.dropOldStartsSQL).execute(arguments: [queue, windowStart]) }
            for row in try Row.fetchAll(db.cachedStatement(sql: Self.startsSQL), arguments: [queue]) {
                let at: Int64 = try row.decode(atIndex: 0)
                if at > windowStart { starts.append((SQLiteCoding.date(micros: at), try row.decode(atIndex: 1))) }
            }
        }
        return QueueAllowance(limits: limits, running: running, startsInWindow: starts)
    }

    private static func claimOrder(_ lhs: ClaimedJob, _ rhs: ClaimedJob) -> Bool {
        if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
        if lhs.runAt != rhs.runAt { return lhs.runAt < rhs.runAt }
        return lhs.id < rhs.id
    }

    // MARK: Finish

    /// One outcome's column values, prepared before the transaction.
    private struct FinishRow: Sendable {
        enum AddedError: Sendable {
            case given(JobAttemptError)
            /// A cancelled run: recorded with the job's current attempt.
            case cancelled(reason: String, at: Date)
        }

        let id: JobID
        let state: JobState
        let attemptDelta: Int
        let runAt: Int64?
        let finishedAt: Int64?
        let result: [UInt8]?
        let error: AddedError?

        /// An empty result: GRDB binds empty bytes as NULL, so it is written as `x''`.
        var hasEmptyResult: Bool { result?.isEmpty == true }

        /// A success: the kind of outcome ``succeededSQL`` writes, many per statement.
        var isSuccess: Bool { state == .succeeded && error == nil && attemptDelta == 0 && runAt == nil }
    }

    private static let finishSQL = """
        UPDATE spool_jobs
        SET state = ?1, attempt = attempt + ?2, run_at = COALESCE(?3, run_at), finished_at = ?4,
            result = CASE WHEN ?9 THEN x'' ELSE COALESCE(?5, result) END, errors = COALESCE(?6, errors),
            lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
        WHERE id = ?7 AND state = 'running' AND lease_owner = ?8
        """

    /// The successes one ``succeededSQL`` statement writes (4 parameters each).
    static let finishChunkSize = 128

    /// Writes up to ``finishChunkSize`` successes at once, each only if the job is `running`
    /// with its lease held by the last parameter. The same columns as
    /// ``finishSQL`` with a success; each row of `v` is (id, finished_at, result, result is
    /// empty). Unused rows have a NULL id, which matches no job: one statement (and one
    /// materialized `v`) serves every batch size.
    private static let succeededSQL = """
        UPDATE spool_jobs
        SET state = 'succeeded', finished_at = v.column2,
            result = CASE WHEN v.column4 THEN x'' ELSE COALESCE(v.column3, result) END,
            lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
        FROM (VALUES \(Array(repeating: "(?, ?, ?, ?)", count: finishChunkSize).joined(separator: ", "))) AS v
        WHERE spool_jobs.id = v.column1 AND spool_jobs.state = 'running' AND spool_jobs.lease_owner = ?
        """

    private static let leaseHeldSQL = """
        SELECT attempt, errors FROM spool_jobs WHERE id = ? AND state = 'running' AND lease_owner = ?
        """

    /// Records how runs ended, in one transaction. Each outcome is written only if the job is
    /// `running` with its lease held by `worker`; the others (rescued, cancelled, deleted, or
    /// claimed by another worker since) are returned and nothing is written for them.
    ///
    /// Snooze and hand-back give the attempt back; every outcome clears the lease and resets
    /// the count of expired leases; failures append to the error history (newest
    /// ``JobAttemptError/historyLimit`` kept). Cost: one transaction; successes are written up
    /// to 64 per statement, other outcomes a statement each.
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID] {
        guard !completions.isEmpty else { return [] }
        let rows: [FinishRow] = try completions.map { completion in
            let next = try JobStateMachine.transition(.running, on: completion.event, job: completion.id)
            let at = SQLiteCoding.micros(completion.at)
            let finishedAt = next.isFinished ? at : nil
            switch completion.outcome {
            case .succeeded(let result):
                return FinishRow(id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: result, error: nil)
            case .retry(let runAt, let error):
                return FinishRow(id: completion.id, state: next, attemptDelta: 0, runAt: SQLiteCoding.micros(runAt), finishedAt: finishedAt, result: nil, error: .given(error))
            case .snooze(let until):
                return FinishRow(id: completion.id, state: next, attemptDelta: -1, runAt: SQLiteCoding.micros(until), finishedAt: finishedAt, result: nil, error: nil)
            case .dead(let error):
                return FinishRow(id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: nil, error: .given(error))
            case .cancelled(let reason):
                return FinishRow(id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: nil, error: .cancelled(reason: reason, at: completion.at))
            case .handBack:
                return FinishRow(id: completion.id, state: next, attemptDelta: -1, runAt: nil, finishedAt: finishedAt, result: nil, error: nil)
            }
        }
        // Successes go many per statement, unless an id comes twice (then each outcome is
        // written in turn, the later ones finding the job no longer running, as one by one).
        let successes = rows.filter(\.isSuccess)
        let batched = successes.count > 1 && Set(rows.map(\.id)).count == rows.count
        let (lost, written, limited) = try await write(
            "finish of \(completions.count) job(s) by worker '\(worker)'", synced: configuration.syncsOutcomes
        ) { db in
            var lost: [JobID] = []
            var written: [(JobID, JobState)] = []
            if batched {
                var start = 0
                while start < successes.count {
                    let end = min(successes.count, start + Self.finishChunkSize)
                    let chunkLost = try Self.writeSuccesses(successes[start..<end], worker: worker, db)
                    lost += chunkLost
                    for row in successes[start..<end] where !chunkLost.contains(row.id) {
                        written.append((row.id, row.state))
                    }
                    start = end
                }
            }
            for row in rows where !(batched && row.isSuccess) {
                if try Self.writeOne(row, worker: worker, db) {
                    written.append((row.id, row.state))
                } else {
                    lost.append(row.id)
                }
            }
            let limited = try Bool.fetchOne(db.cachedStatement(sql: Self.anyMaxRunningSQL)) ?? false
            return (lost, written, limited)
        }
        // A finished run frees a slot of a queue's max-running limit: wake local waiters.
        if limited || written.contains(where: { $0.1 == .available || $0.1 == .scheduled }) { workSignal.signal() }
        finishWatch.notify(written.filter { $0.1.isFinished }.map(\.0))
        return lost
    }

    /// Writes up to ``finishChunkSize`` successes (distinct ids) in one statement; returns the
    /// ids whose lease `worker` no longer holds.
    ///
    /// The statement runs in a savepoint: when it changed fewer jobs than it was given (a lease
    /// was lost: rare), it is undone and the outcomes are written one by one, which tells
    /// which. (No RETURNING: it would buffer the rows in a temporary table on every call.)
    private static func writeSuccesses(_ rows: ArraySlice<FinishRow>, worker: String, _ db: Database) throws -> [JobID] {
        var allWritten = false
        try db.inSavepoint {
            let statement = try db.cachedStatement(sql: succeededSQL)
            var binder = statement.rawBinder(db)
            for row in rows {
                try binder.bind(row.id)
                try binder.bind(row.finishedAt)
                try binder.bindBlobOrNull(row.result)
                try binder.bind(row.hasEmptyResult)
            }
            for _ in rows.count..<finishChunkSize {
                try binder.bindNull()
                try binder.bindNull()
                try binder.bindNull()
                try binder.bind(false)
            }
            try binder.bind(worker)
            try statement.execute()
            allWritten = db.changesCount == rows.count
            return allWritten ? .commit : .rollback
        }
        if allWritten { return [] }
        var lost: [JobID] = []
        for row in rows where try !writeOne(row, worker: worker, db) {
            lost.append(row.id)
        }
        return lost
    }

    /// Writes one outcome; returns false when `worker` no longer holds the job's lease.
    private static func writeOne(_ row: FinishRow, worker: String, _ db: Database) throws -> Bool {
        var errors: String?
        if let added = row.error {
            guard let held = try Row.fetchOne(db.cachedStatement(sql: Self.leaseHeldSQL), arguments: [SQLiteCoding.blob(row.id), worker]) else {
                return false
            }
            let error: JobAttemptError
            switch added {
            case .given(let given):
                error = given
            case .cancelled(let reason, let at):
                let attempt = try StoredColumns(row: held, id: row.id).integer(0, "attempt")
                error = JobAttemptError(attempt: StoredValue.attempt(attempt), at: at, message: reason, reason: "cancelled")
            }
            errors = try SQLiteCoding.appending([error], to: StoredColumns(row: held, id: row.id).optionalText(1, "errors"))
        }
        let update = try db.cachedStatement(sql: Self.finishSQL)
        var binder = update.rawBinder(db)
        try binder.bind(row.state.rawValue)
        try binder.bind(row.attemptDelta)
        try binder.bind(row.runAt)
        try binder.bind(row.finishedAt)
        try binder.bindBlobOrNull(row.result)
        try binder.bind(errors)
        try binder.bind(row.id)
        try binder.bind(worker)
        try binder.bind(row.hasEmptyResult)
        try update.execute()
        return db.changesCount > 0
    }

    // MARK: Heartbeat and rescue

    private static let heartbeatSQL = """
        UPDATE spool_jobs SET lease_expires_at = ?1, progress = COALESCE(?2, progress)
        WHERE id = ?3 AND state = 'running' AND lease_owner = ?4
        """

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// transaction.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID] {
        guard !beats.isEmpty else { return [] }
        let expiry = SQLiteCoding.micros(now) + SQLiteCoding.micros(lease)
        let rows: [(JobID, String?)] = try beats.map { ($0.id, try SQLiteCoding.encodeProgress($0.progress)) }
        return try await write("heartbeat of \(beats.count) job(s) by worker '\(worker)'", synced: false) { db in
            let update = try db.cachedStatement(sql: Self.heartbeatSQL)
            var lost: [JobID] = []
            for (id, progress) in rows {
                try update.execute(arguments: [expiry, progress, SQLiteCoding.blob(id), worker])
                if db.changesCount == 0 { lost.append(id) }
            }
            return lost
        }
    }

    private static let expiredSQL = """
        SELECT id, attempt, lease_owner, expired_leases, errors FROM spool_jobs INDEXED BY spool_jobs_lease
        WHERE state = 'running' AND lease_expires_at < ? ORDER BY id
        """

    private static let rescueSQL = """
        UPDATE spool_jobs
        SET state = ?1, expired_leases = ?2, errors = ?3, finished_at = ?4, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?5
        """

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt (the crashed run counted) and recording a `lease_expired` error; a job whose
    /// lease has now expired more than `poisonAfter` times in a row goes to `dead` with a
    /// `poison` error instead. One transaction; reads only the expired leases (an index orders
    /// running jobs by lease expiry). Safe to run from several processes at once.
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let nowMicros = SQLiteCoding.micros(now)
        let available = try JobStateMachine.transition(.running, on: .rescue)
        let dead = try JobStateMachine.transition(.running, on: .die)
        let report = try await write("rescue of expired leases") { db in
            var report = RescueReport()
            let expired = try Row.fetchAll(db.cachedStatement(sql: Self.expiredSQL), arguments: [nowMicros])
            let update = try db.cachedStatement(sql: Self.rescueSQL)
            for row in expired {
                let blob: Data = try row.decode(atIndex: 0)
                let id = try SQLiteCoding.id(blob)
                let columns = StoredColumns(row: row, id: id)
                let attempt = StoredValue.attempt(try columns.integer(1, "attempt"))
                let owner = try columns.optionalText(2, "lease_owner")
                // Clamped, so that a corrupt count cannot overflow here.
                let count = StoredValue.count(try columns.optionalInteger(3, "expired_leases") ?? 0) + 1
                var added = [JobAttemptError(
                    attempt: attempt, at: now,
                    message: "the lease of worker '\(owner ?? "?")' expired (worker crashed or hung)", reason: "lease_expired"
                )]
                let poisoned = count > poisonAfter
                if poisoned {
                    added.append(JobAttemptError(
                        attempt: attempt, at: now, message: "poison job: its lease expired \(count) times in a row", reason: "poison"
                    ))
                }
                let errors = try SQLiteCoding.appending(added, to: columns.optionalText(4, "errors"))
                let state = poisoned ? dead : available
                try update.execute(arguments: [state.rawValue, count, errors, poisoned ? nowMicros : nil, blob])
                if poisoned { report.poisoned.append(id) } else { report.rescued.append(id) }
            }
            return report
        }
        if !report.rescued.isEmpty { workSignal.signal() }
        finishWatch.notify(report.poisoned)
        return report
    }

    // MARK: Waiting

    /// Whether one of the queues `?1` (a JSON array) that is not paused has an available job or
    /// a scheduled job due at `?2`, and the next run-at after `?2` (any queue). Index probes
    /// only: the claim index per queue, the due index for the rest.
    private static let readySQL = """
        SELECT
            EXISTS (
                SELECT 1 FROM spool_jobs
                WHERE state = 'available' AND queue IN (SELECT value FROM json_each(?1))
                  AND queue NOT IN (SELECT name FROM spool_queues WHERE paused <> 0)
            ),
            EXISTS (
                SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_due
                WHERE state = 'scheduled' AND run_at <= ?2 AND queue IN (SELECT value FROM json_each(?1))
                  AND queue NOT IN (SELECT name FROM spool_queues WHERE paused <> 0)
            ),
            (SELECT MIN(run_at) FROM spool_jobs INDEXED BY spool_jobs_due WHERE state = 'scheduled' AND run_at > ?2)
        """

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused, not at a limit) has an available job
    /// or a due scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at, and ``Configuration/pollInterval`` from now, or until this process
    /// enqueues, retries, hands back, rescues or resumes something. Jobs enqueued by other
    /// processes are noticed at the next poll. Cost: one read of a few index entries per call.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let now = clock.now
        let nowMicros = SQLiteCoding.micros(now)
        var until = min(deadline, now.adding(configuration.pollInterval))
        do {
            let (ready, nextDue, reopens) = try await read("checking for work") { db -> (Bool, Int64?, Date?) in
                // A queue at one of its limits has no work until the limit reopens.
                let limits = try Self.queueSettings(db).limits
                var open: [String] = []
                var reopens: Date? = nil
                for queue in queues {
                    if let limited = limits[queue] {
                        let allowance = try Self.allowance(limited, queue: queue, now: nowMicros, db, writing: false)
                        if allowance.jobs == 0 {
                            if let at = allowance.reopensAt { reopens = min(reopens ?? at, at) }
                            continue
                        }
                    }
                    open.append(queue)
                }
                let names = String(decoding: try JSONEncoder().encode(open), as: UTF8.self)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.readySQL), arguments: [names, nowMicros]) else {
                    return (false, nil, reopens)
                }
                let available: Bool = try row.decode(atIndex: 0)
                let due: Bool = try row.decode(atIndex: 1)
                return (available || due, try row.decode(atIndex: 2), reopens)
            }
            if ready { return }
            if let nextDue { until = min(until, SQLiteCoding.date(micros: nextDue)) }
            if let reopens { until = min(until, reopens) }
        } catch {
            configuration.logger.warning("checking for work failed; waiting for the next poll", metadata: [
                "spool.error": "\(error)",
            ])
            // The poll in real time: a test's manual clock must not stall a store that failed.
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            return
        }
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    /// Suspends until the job reaches a final state and returns its record; nil if it does not
    /// exist or is deleted meanwhile.
    ///
    /// A finish, cancel or delete in this process wakes the waiters of that job (and only
    /// those) at once. Finishes by other processes are seen by re-reading the job, first after
    /// ``Configuration/pollInterval`` and then less often, down to once a second (wall-clock time,
    /// whatever clock the caller uses). Cancelling the task ends the wait with
    /// `CancellationError`.
    public func waitUntilFinished(_ id: JobID) async throws -> JobRecord? {
        let signal = finishWatch.startWatching(id)
        defer { finishWatch.stopWatching(id) }
        let system = SystemClock()
        var delay = configuration.pollInterval
        while true {
            let ticket = signal.ticket()
            guard let record = try await job(id) else { return nil }
            if record.state.isFinished { return record }
            try Task.checkCancellation()
            await signal.wait(ticket, until: system.now.adding(delay), clock: system)
            try Task.checkCancellation()
            delay = min(delay * 2, max(configuration.pollInterval, .seconds(1)))
        }
    }

    // MARK: Inspection

    private static let jobSQL = "SELECT \(SQLiteCoding.recordColumns) FROM spool_jobs WHERE id = ?"

    /// The job with `id`, or nil. One read.
    public func job(_ id: JobID) async throws -> JobRecord? {
        try await read("reading job \(id)") { db in
            try Row.fetchOne(db.cachedStatement(sql: Self.jobSQL), arguments: [SQLiteCoding.blob(id)]).map(SQLiteCoding.record)
        }
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at a million),
    /// after the cursor.
    ///
    /// Cost: with states that are all scheduled or final, sorts the entries of those states (and
    /// queue) from the state index; with only `running`, those of the lease index; otherwise
    /// (`available` among the states, or no state) walks the id index from the newest job until
    /// `limit` match, so a filter that matches few of many jobs reads more.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        // Pages larger than a million jobs are cut there (with a cursor to go on).
        let limit = min(max(1, limit), 1_000_000)
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let states = filter.states {
            if states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
            let sorted = states.map(\.rawValue).sorted()
            clauses.append("state IN (\(sorted.map { _ in "?" }.joined(separator: ", ")))")
            arguments += sorted
            // The partial index that holds these states, named by its own condition (the
            // planner matches a partial index only to a literal copy of its WHERE).
            if states.allSatisfy(SQLiteSchema.stateIndexHolds) {
                clauses.append(SQLiteSchema.stateIndexCondition)
            } else if states.allSatisfy({ $0 == .running }) {
                clauses.append("state = 'running'")
            }
        }
        if let queue = filter.queue {
            clauses.append("queue = ?")
            arguments.append(queue)
        }
        if let kind = filter.kind {
            clauses.append("kind = ?")
            arguments.append(kind)
        }
        if let after {
            clauses.append("id < ?")
            arguments.append(SQLiteCoding.blob(after))
        }
        arguments.append(limit + 1)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql = "SELECT \(SQLiteCoding.recordColumns) FROM spool_jobs \(whereClause) ORDER BY id DESC LIMIT ?"
        let values = StatementArguments(arguments)
        return try await read("listing jobs") { db in
            // The SQL varies only with which filters are set: a handful of cached statements.
            let rows = try Row.fetchAll(db.cachedStatement(sql: sql), arguments: values)
            let jobs = try rows.prefix(limit).map(SQLiteCoding.record)
            return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
        }
    }

    /// Counts per state and queue, each from the index that holds that state: available jobs
    /// on the claim index, running ones on the lease index, the others on the state index.
    private static let statsSQL = """
        SELECT queue, state, COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_state
        WHERE \(SQLiteSchema.stateIndexCondition) GROUP BY state, queue
        UNION ALL
        SELECT queue, 'available', COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_claim WHERE state = 'available' GROUP BY queue
        UNION ALL
        SELECT queue, 'running', COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_lease WHERE state = 'running' GROUP BY queue
        """

    /// Counts by queue and state. Cost: one scan of the state, claim and lease indexes (no job
    /// rows are read).
    public func stats() async throws -> StorageStats {
        try await read("counting jobs") { db in
            var stats = StorageStats()
            let rows = try Row.fetchAll(db.cachedStatement(sql: Self.statsSQL))
            for row in rows {
                let queue: String = try row.decode(atIndex: 0)
                let state = try SQLiteCoding.state(row.decode(atIndex: 1))
                stats.queues[queue, default: [:]][state] = try row.decode(atIndex: 2)
            }
            return stats
        }
    }

    // MARK: Operator actions

    private static let stateSQL = "SELECT state, attempt, errors, unique_key FROM spool_jobs WHERE id = ?"

    private static let liveHolderSQL = """
        SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_unique_key WHERE unique_key = ? AND \(SQLiteSchema.liveCondition) LIMIT 1
        """

    private static let manualRetrySQL = """
        UPDATE spool_jobs
        SET state = ?1, attempt = 0, run_at = ?2, expired_leases = 0, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?3
        """

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one transaction. A job whose unique key another live job holds now is
    /// not retried.
    /// - Returns: the ids that were retried.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let retried = try await write("retry of \(ids.count) job(s)") { db in
            var retried: [JobID] = []
            for id in ids {
                let blob = SQLiteCoding.blob(id)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.stateSQL), arguments: [blob]),
                      let next = JobStateMachine.next(from: try SQLiteCoding.state(row.decode(atIndex: 0)), on: .manualRetry)
                else { continue }
                let key: String? = try row.decode(atIndex: 3)
                if let key, try Row.fetchOne(db.cachedStatement(sql: Self.liveHolderSQL), arguments: [key]) != nil {
                    continue
                }
                try db.cachedStatement(sql: Self.manualRetrySQL).execute(arguments: [next.rawValue, nowMicros, blob])
                retried.append(id)
            }
            return retried
        }
        if !retried.isEmpty { workSignal.signal() }
        return retried
    }

    private static let cancelSQL = """
        UPDATE spool_jobs
        SET state = ?1, finished_at = ?2, errors = ?3, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?4
        """

    /// Cancels jobs that have not finished, in one transaction, recording a `cancelled` error.
    /// A running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// - Returns: the ids that were cancelled.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let cancelled = try await write("cancel of \(ids.count) job(s)") { db in
            var cancelled: [JobID] = []
            for id in ids {
                let blob = SQLiteCoding.blob(id)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.stateSQL), arguments: [blob]),
                      let next = JobStateMachine.next(from: try SQLiteCoding.state(row.decode(atIndex: 0)), on: .cancel)
                else { continue }
                let columns = StoredColumns(row: row, id: id)
                let attempt = StoredValue.attempt(try columns.integer(1, "attempt"))
                let error = JobAttemptError(attempt: attempt, at: now, message: "cancelled by request", reason: "cancelled")
                let errors = try SQLiteCoding.appending([error], to: columns.optionalText(2, "errors"))
                try db.cachedStatement(sql: Self.cancelSQL).execute(arguments: [next.rawValue, nowMicros, errors, blob])
                cancelled.append(id)
            }
            return cancelled
        }
        finishWatch.notify(cancelled)
        if !cancelled.isEmpty { workSignal.signal() }  // a running job's slot under a max-running limit is free
        return cancelled
    }

    /// Deletes jobs in any state, in one transaction. A running job's worker loses its lease.
    /// - Returns: the ids that existed and were deleted.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let deleted = try await write("delete of \(ids.count) job(s)") { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM spool_jobs WHERE id = ?")
            var deleted: [JobID] = []
            for id in ids {
                try statement.execute(arguments: [SQLiteCoding.blob(id)])
                if db.changesCount > 0 { deleted.append(id) }
            }
            return deleted
        }
        finishWatch.notify(deleted)
        if !deleted.isEmpty { workSignal.signal() }
        return deleted
    }

    private static let pruneSQL = """
        DELETE FROM spool_jobs WHERE rowid IN (
            SELECT rowid FROM spool_jobs INDEXED BY spool_jobs_finished WHERE \(SQLiteSchema.finishedCondition) AND finished_at < ?
            ORDER BY finished_at LIMIT ?
        )
        """

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one transaction. Cost: an index range over finished jobs.
    /// - Returns: how many were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let beforeMicros = SQLiteCoding.micros(before)
        return try await write("prune of finished jobs") { db in
            try db.cachedStatement(sql: Self.pruneSQL).execute(arguments: [beforeMicros, limit])
            return db.changesCount
        }
    }

    // MARK: Queues

    /// Pauses or resumes a queue, for every process sharing the file: a paused queue keeps
    /// accepting jobs but claims hand none out. A resume wakes this process's idle workers at
    /// once (others at their next poll).
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await write("\(paused ? "pausing" : "resuming") queue '\(queue)'") { db in
            try db.cachedStatement(sql: """
                INSERT INTO spool_queues (name, paused) VALUES (?, ?)
                ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
                """).execute(arguments: [queue, paused])
        }
        if !paused { workSignal.signal() }
    }

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        try await read("reading paused queues") { db in
            Set(try String.fetchAll(db.cachedStatement(sql: Self.pausedSQL)))
        }
    }

    /// Sets a queue's limits for every process sharing the file (kept in `spool_queues`);
    /// claims from the next one on honour them. Wakes this process's idle workers.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        try await write("setting the limits of queue '\(queue)'") { db in
            try db.cachedStatement(sql: """
                INSERT INTO spool_queues (name, max_running, rate_limit, rate_period_us) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running,
                    rate_limit = excluded.rate_limit, rate_period_us = excluded.rate_period_us
                """).execute(arguments: [queue, limits.maxRunning, limits.rate?.count, limits.rate.map { SQLiteCoding.micros($0.period) }])
            if limits.rate == nil {
                try db.cachedStatement(sql: "DELETE FROM spool_queue_starts WHERE queue = ?").execute(arguments: [queue])
            }
        }
        workSignal.signal()
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        try await read("reading queue limits") { db in try Self.queueSettings(db).limits }
    }
}
