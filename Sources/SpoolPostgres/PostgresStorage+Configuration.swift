// PostgresStorage.Configuration: the driver's settings (schema, pool, polling, notifications, prepared statements, maintenance).

import Logging
import Spool

extension PostgresStorage {
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
            preparedStatements: Bool = true, migrateOnStart: Bool = true, maintenance: Maintenance? = Maintenance(),
            startTimeout: Duration = .seconds(10),
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
}
