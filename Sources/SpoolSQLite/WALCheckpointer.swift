import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Logging
import Spool
import Synchronization

/// Checkpoints the WAL on a connection and a thread of its own, so the writer connection (whose
/// one thread every claim, finish and enqueue of the process waits for) does not.
///
/// SQLite's automatic checkpoint runs inside the commit that finds the WAL past 1,000 pages:
/// that commit then copies the pages into the database file and syncs it, about a fifth of the
/// writer's time on a busy worker. Here the writer's commit hook (`sqlite3_wal_hook`, which
/// replaces the automatic checkpoint) only hands the work to a serial dispatch queue; a
/// PASSIVE checkpoint there never blocks the writer or readers. Should that queue fall behind,
/// the writer checkpoints itself once the WAL reaches ``backstopPages``, so the WAL stays
/// bounded whatever happens here.
///
/// The checkpoint also syncs the WAL before it copies it, which makes it the point where
/// commits that did not wait for the disk (claims, heartbeats, outcomes) get there:
/// ``commitUnsynced()`` schedules one within ``syncInterval``.
final class WALCheckpointer: Sendable {
    /// WAL pages at which a commit asks for a checkpoint (SQLite's default for its own).
    static let thresholdPages: Int32 = 1_000
    /// WAL pages at which the writer checkpoints itself.
    static let backstopPages: Int32 = 8_000

    let path: String
    /// The longest a commit that did not wait for the disk stays off it (barring a checkpoint
    /// that fails, which is logged).
    let syncInterval: Duration
    private let logger: Logger
    private let queue = DispatchQueue(label: "spool.sqlite.checkpoint")
    /// The checkpoint connection: opened on first use by a checkpoint on `queue`, closed by
    /// ``close()``; the lock keeps the two apart.
    private let connection = Mutex<OpaquePointer?>(nil)
    /// The writer connection the hook is installed on (0: none).
    private let connectionKey = Atomic<UInt>(0)
    /// A checkpoint is queued and has not started yet (requests meanwhile add nothing).
    private let queued = Atomic<Bool>(false)
    /// A sync is scheduled for unsynced commits.
    private let syncScheduled = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Checkpoints run on `queue` that succeeded, for tests.
    let completed = Atomic<Int>(0)
    /// Signalled after each of them.
    let checkpointed = WakeSignal()

    init(path: String, syncInterval: Duration, logger: Logger) {
        self.path = path
        self.syncInterval = syncInterval
        self.logger = logger
    }

    /// The checkpointers of open writer connections, by connection: the hook looks its own up
    /// here, so a connection that outlives its storage (GRDB closes it after the storage is
    /// gone) finds none and checkpoints itself, as SQLite would.
    private struct Entry {
        weak var checkpointer: WALCheckpointer?
    }

    private static let installed = Mutex<[UInt: Entry]>([:])

    private static func key(_ connection: OpaquePointer?) -> UInt {
        UInt(bitPattern: connection.map { Int(bitPattern: $0) } ?? 0)
    }

    /// Installs the commit hook on `db` (the writer connection), replacing SQLite's automatic
    /// checkpoint.
    func install(on db: Database) {
        let connection = db.sqliteConnection
        Self.installed.withLock { $0[Self.key(connection)] = Entry(checkpointer: self) }
        sqlite3_wal_hook(
            connection,
            { _, db, name, pages in
                let checkpointer = WALCheckpointer.installed.withLock { $0[WALCheckpointer.key(db)]?.checkpointer }
                if let checkpointer, pages < WALCheckpointer.backstopPages {
                    if pages >= WALCheckpointer.thresholdPages { checkpointer.request() }
                } else if pages >= WALCheckpointer.thresholdPages {
                    // Behind, or the storage is gone: checkpoint here, as SQLite's own hook would
                    // (the commit itself has succeeded; a failure shows on the next checkpoint).
                    _ = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                }
                return SQLITE_OK
            }, nil)
        self.connectionKey.store(Self.key(connection), ordering: .releasing)
    }

    deinit {
        let key = connectionKey.load(ordering: .acquiring)
        Self.installed.withLock { installed in
            if installed[key] != nil, installed[key]?.checkpointer == nil { installed[key] = nil }
        }
    }

    /// Queues a checkpoint unless one is queued already. Cheap: called from the writer's commit.
    func request() {
        guard !closed.load(ordering: .relaxed), !queued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            queued.store(false, ordering: .releasing)
            checkpoint()
        }
    }

    /// A commit did not wait for the disk: makes sure a checkpoint (which syncs the WAL first)
    /// runs within ``syncInterval``.
    func commitUnsynced() {
        guard !closed.load(ordering: .relaxed), !syncScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let (seconds, attoseconds) = syncInterval.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            syncScheduled.store(false, ordering: .releasing)
            checkpoint()
        }
    }

    /// Runs one PASSIVE checkpoint (on `queue`): syncs the WAL, copies what no reader still
    /// needs into the database file, syncs that. Failures are logged; the next request or the
    /// writer's backstop tries again.
    private func checkpoint() {
        connection.withLock { connection in
            guard !closed.load(ordering: .acquiring) else { return }
            if connection == nil {
                var opened: OpaquePointer?
                let code = sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
                guard code == SQLITE_OK, let opened else {
                    logger.error(
                        "could not open a connection for WAL checkpoints",
                        metadata: [
                            "spool.sqlite.path": "\(path)", "spool.error": "\(String(cString: sqlite3_errstr(code)))",
                        ])
                    sqlite3_close_v2(opened)
                    return
                }
                connection = opened
            }
            let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            if code == SQLITE_OK {
                completed.add(1, ordering: .releasing)
                checkpointed.signal()
            } else if code != SQLITE_BUSY {
                // BUSY: another connection (another process) is checkpointing; it syncs too.
                logger.error(
                    "WAL checkpoint failed",
                    metadata: [
                        "spool.sqlite.path": "\(path)", "spool.error": "\(String(cString: sqlite3_errmsg(connection)))",
                    ])
            }
        }
    }

    /// Waits for a running checkpoint, drops queued ones and closes the connection. Later
    /// requests do nothing, and the writer connection checkpoints itself again.
    func close() {
        closed.store(true, ordering: .releasing)
        let key = connectionKey.load(ordering: .acquiring)
        Self.installed.withLock { installed in
            if installed[key]?.checkpointer === self { installed[key] = nil }
        }
        connection.withLock { connection in
            sqlite3_close_v2(connection)
            connection = nil
        }
    }
}
