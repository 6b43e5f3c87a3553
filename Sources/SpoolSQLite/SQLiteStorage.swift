// SQLiteStorage: the type, its stored properties, opening (and migrating) the file, closing it.

import Foundation
import GRDB
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
    /// The path of the database file.
    public let path: String
    /// The settings the store was opened with.
    public let configuration: Configuration
    let pool: DatabasePool
    /// Deletes the file (and its -wal and -shm companions) when the storage is released.
    private let isTemporary: Bool
    /// Signalled when a job may have become claimable here (enqueue, retry, hand-back, rescue,
    /// resume, a retry or snooze that sets a new run-at).
    package let workSignal = WakeSignal()
    /// This process's workers waiting for work, to whom an enqueue hands its jobs.
    package let claimWaiters = ClaimWaiters()
    /// Wakes waiters of jobs that reach a final state or are deleted in this process.
    let finishWatch = FinishWatch()
    /// Wakes waiters of batches (by their ids' bits) after writes in this process that may
    /// have finished one.
    let batchWatch = FinishWatch()
    /// Set by ``close()``: operations then fail with a clear error.
    let closed = Atomic<Bool>(false)
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
        try self.init(
            path: path, configuration: configuration, schema: configuration.migrateOnOpen ? .migrate : .require, isTemporary: false)
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
        grdb.busyMode =
            configuration.busyTimeout > .zero
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
                message:
                    "SQLite job store '\(path)': the SQLite library is version \(version); Spool needs \(minimumLibraryVersion.0).\(minimumLibraryVersion.1) or newer"
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
}

extension SQLiteStorage {
    /// Opens the store as ``init(path:configuration:)`` does, on a thread of its own rather
    /// than the caller's.
    ///
    /// Opening blocks its thread while it creates, migrates and syncs the file (a few
    /// milliseconds; up to ``Configuration/busyTimeout`` when another process holds the write
    /// lock). From a task that would hold a thread of the cooperative pool, which a few cores
    /// share with every other task of the process; this suspends the task instead.
    /// - Throws: as ``init(path:configuration:)``.
    public static func open(path: String, configuration: Configuration = Configuration()) async throws -> SQLiteStorage {
        try await offThePool { try SQLiteStorage(path: path, configuration: configuration) }
    }

    /// A store in a new file in the temporary folder, as ``temporary(configuration:)``, opened
    /// on a thread of its own (see ``open(path:configuration:)``).
    public static func openTemporary(configuration: Configuration = Configuration()) async throws -> SQLiteStorage {
        try await offThePool { try SQLiteStorage.temporary(configuration: configuration) }
    }

    private static func offThePool(_ open: @escaping @Sendable () throws -> SQLiteStorage) async throws -> SQLiteStorage {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try open() }) }
        }
    }
}
