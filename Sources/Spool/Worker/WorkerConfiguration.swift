import Foundation

/// One queue a worker serves.
public struct WorkerQueue: Sendable, Hashable, ExpressibleByStringLiteral {
    /// The queue's name.
    public var name: String
    /// The most jobs of this queue the worker runs at once; nil for the worker's concurrency.
    public var concurrency: Int?
    /// The lane whose threads run this queue's jobs, unless their kind names a lane of its own
    /// (``JobOptions/lane``); nil: the shared cooperative pool.
    public var lane: BlockingPool?
    /// This queue's share of the worker's free slots when several queues have work. When any
    /// of a worker's queues has a weight, the free slots are split in proportion to the weights
    /// (a queue without one counts as 1) by stride scheduling: the split carries over from
    /// claim to claim, so it holds even when each claim fills one or two slots, and a busy
    /// queue cannot starve the others. A queue that had nothing to run earns no credit. The
    /// slots a queue leaves unused (it has no due jobs) go to the other queues in the same claim
    /// round (work stealing). With no weights (the default), queues are served strictly in
    /// order: a later queue gets only what the earlier ones leave.
    public var weight: Int?

    /// - Parameters:
    ///   - name: the queue's name, normalised to Unicode NFC as every stored name is
    ///     (see ``JobInput``), so either spelling serves the same queue.
    ///   - concurrency: see ``concurrency``.
    ///   - weight: see ``weight``; raised to at least 1.
    ///   - lane: see ``lane``.
    public init(_ name: String, concurrency: Int? = nil, weight: Int? = nil, lane: BlockingPool? = nil) {
        self.name = (try? JobInput.name(name, field: "queue")) ?? name
        self.concurrency = concurrency
        self.weight = weight.map { max(1, $0) }
        self.lane = lane
    }

    public static func == (lhs: WorkerQueue, rhs: WorkerQueue) -> Bool {
        lhs.name == rhs.name && lhs.concurrency == rhs.concurrency && lhs.weight == rhs.weight && lhs.lane === rhs.lane
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(concurrency)
        hasher.combine(weight)
        hasher.combine(lane.map(ObjectIdentifier.init))
    }

    public init(stringLiteral name: String) {
        self.init(name)
    }
}

/// Settings of a ``Worker``. Every field has a working default.
public struct WorkerConfiguration: Sendable {
    /// The queues served, in order of preference. Default `["default"]`.
    public var queues: [WorkerQueue]
    /// The most jobs this worker runs at once: 1 to ``maximumConcurrency`` (values outside are
    /// moved to the nearest end). Default 10.
    public var concurrency: Int
    /// How long a claimed job's lease lasts without a heartbeat. Default 30 s.
    public var lease: Duration
    /// How often leases are renewed. Default a third of `lease`.
    public var heartbeatInterval: Duration?
    /// How long graceful shutdown lets running jobs finish before cancelling them and handing
    /// their leases back. Default 25 s.
    public var drainTimeout: Duration
    /// How often this worker returns expired leases (of crashed workers) to the queue; nil
    /// turns it off (when a leader does it for the cluster). Default 5 s.
    public var rescueInterval: Duration?
    /// A job whose lease expired more than this many times in a row is a poison job: `dead`.
    /// Default 3.
    public var poisonAfter: Int
    /// The longest an idle worker waits before claiming again even without a wake-up (a safety
    /// net; drivers wake workers when jobs arrive). Default 1 s.
    public var idleWait: Duration
    /// This worker's name, the owner of its leases. Default host, process id and a random tag.
    public var workerID: String
    /// Told what the claimer does (`spool bench --stages`); nil: nothing is told.
    package var claimProbe: ClaimProbe?

    /// The most slots a worker has: larger concurrencies are lowered to it (each slot is a task
    /// and a slot in the worker's tables, made up front).
    public static let maximumConcurrency = 10_000

    /// `concurrency` moved into 1 ... ``maximumConcurrency``.
    static func bounded(concurrency: Int) -> Int {
        min(max(1, concurrency), maximumConcurrency)
    }

    public init(
        queues: [WorkerQueue] = ["default"], concurrency: Int = 10, lease: Duration = .seconds(30),
        heartbeatInterval: Duration? = nil, drainTimeout: Duration = .seconds(25),
        rescueInterval: Duration? = .seconds(5), poisonAfter: Int = 3, idleWait: Duration = .seconds(1),
        workerID: String = WorkerConfiguration.defaultWorkerID()
    ) {
        self.queues = queues
        self.concurrency = Self.bounded(concurrency: concurrency)
        self.lease = lease
        self.heartbeatInterval = heartbeatInterval
        self.drainTimeout = drainTimeout
        self.rescueInterval = rescueInterval
        self.poisonAfter = max(0, poisonAfter)
        self.idleWait = idleWait
        self.workerID = workerID
    }

    /// `HOST:PID:TAG`, unique per worker.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(host):\(getpid()):\(tag)"
    }

    var effectiveHeartbeatInterval: Duration {
        heartbeatInterval ?? lease / 3
    }
}

/// Counters of what a worker has done since it started.
public struct WorkerStats: Sendable, Hashable, Codable {
    public var succeeded: Int
    /// Runs that threw (retried or dead, timeouts included).
    public var failed: Int
    public var retried: Int
    public var dead: Int
    public var timedOut: Int
    public var snoozed: Int
    /// Jobs of this worker that were cancelled (through the storage) while running or waiting
    /// to run: their handlers were cancelled and nothing was stored for them.
    public var cancelled: Int
    public var handedBack: Int
    /// Jobs claimed and not yet finished (running or about to run).
    public var inFlight: Int
}
