// RedisStorage.Configuration: the driver's settings (namespace, pool, polling, wake-ups, timeouts, maintenance).

import Logging
import Spool

extension RedisStorage {
    /// Settings of the Redis driver. Every field has a working default.
    public struct Configuration: Sendable {
        /// Cluster-wide maintenance run by one elected leader among the processes sharing the
        /// store: the rescue of expired leases and the pruning of finished jobs.
        public typealias Maintenance = ClusterMaintenance

        /// The prefix of every key (inside a hash tag: `{spool}:…`): 1 to 64 letters, digits,
        /// `-`, `_` or `.`. Processes sharing a namespace share jobs. Default `spool`.
        public var namespace: String
        /// How many pipelined connections operations share (the blocking wake-up connection is
        /// one more). Default 4.
        public var poolSize: Int
        /// The longest an idle ``RedisStorage/waitForWork(queues:deadline:clock:)`` sleeps
        /// before looking again; only a safety net for lost wake-ups. Default 1 s.
        public var pollInterval: Duration
        /// Whether waiting processes block on a wake-up list (else they poll every
        /// ``pollInterval``). Default true.
        public var wakeups: Bool
        /// How long a connection attempt (and its login) may take. Default 5 s.
        public var connectTimeout: Duration
        /// How long commands may wait for the server's next reply before their connection is
        /// closed and they fail with `storageUnavailable` (a hung server, a half-open
        /// connection). Long scripts on a huge batch must fit in it. Default 30 s.
        public var commandTimeout: Duration
        /// How long operations wait for ``RedisStorage/run()`` to be ready before failing with
        /// `storageUnavailable`. Default 10 s.
        public var startTimeout: Duration
        /// Leader-elected rescue and prune; nil turns it off (then let workers rescue, with
        /// `WorkerConfiguration.rescueInterval`). Default on.
        public var maintenance: Maintenance?
        /// The clock for maintenance (rescue and prune times).
        public var clock: any JobClock
        /// Where the driver reports what it cannot throw (a lost wake-up connection, a failed
        /// rescue).
        public var logger: Logger

        public init(
            namespace: String = "spool", poolSize: Int = 4, pollInterval: Duration = .seconds(1), wakeups: Bool = true,
            connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(30), startTimeout: Duration = .seconds(10),
            maintenance: Maintenance? = Maintenance(), clock: any JobClock = SystemClock(),
            logger: Logger = Logger(label: "spool.redis")
        ) {
            self.maintenance = maintenance
            self.clock = clock
            self.namespace = namespace
            self.poolSize = max(1, poolSize)
            self.pollInterval = pollInterval
            self.wakeups = wakeups
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.startTimeout = startTimeout
            self.logger = logger
        }

        static func isValidNamespace(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 64
                && name.utf8.allSatisfy {
                    $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                }
        }
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
