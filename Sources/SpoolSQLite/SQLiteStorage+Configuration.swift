// SQLiteStorage.Configuration: the driver's settings (durability, busy timeout, polling, readers, syncing).

import Logging

extension SQLiteStorage {
    /// Settings of the SQLite driver. Every field has a working default.
    public struct Configuration: Sendable {
        /// How hard a commit works to be on disk (SQLite's `synchronous` setting).
        public struct Durability: Sendable, Hashable, LosslessStringConvertible {
            let pragma: String

            /// The durability named `full`, `normal` or `extra` (any case); nil for another name.
            public init?(_ name: String) {
                switch name.lowercased() {
                case "full": self = .full
                case "normal": self = .normal
                case "extra": self = .extra
                default: return nil
                }
            }

            private init(pragma: String) {
                self.pragma = pragma
            }

            /// Every commit syncs the WAL: a committed job survives a power loss. The default.
            /// Costs one `fsync` per transaction (about 1–5 ms on common disks).
            public static let full = Durability(pragma: "FULL")
            /// No commit waits for the disk: a checkpoint syncs them within
            /// ``Configuration/syncInterval`` (like Redis's `appendfsync everysec`). A commit
            /// survives a crash of any process, but the commits of the last `syncInterval` may be
            /// lost on a power loss or an OS crash. Saves an `fsync` per enqueue.
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
}
