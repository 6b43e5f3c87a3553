import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What a time-to-live leader election needs from a shared store (the PostgreSQL and Redis
/// drivers): one record per duty naming its holder, which lapses after a time-to-live unless
/// renewed.
public protocol LeadershipStore: Sendable {
    /// Takes `duty` for `holder` for `ttl` when nobody else holds it (or the holder's time ran
    /// out), or renews it when `holder` has it. Expiry is measured on the store's clock.
    /// - Returns: whether `holder` holds the duty now.
    /// - Throws: the store's error when it cannot be reached.
    func acquireLeadership(duty: String, holder: String, ttl: Duration) async throws -> Bool

    /// Gives `duty` up when `holder` holds it (another candidate may take it at once).
    func releaseLeadership(duty: String, holder: String) async throws
}

/// Leader election on a ``LeadershipStore`` record with a time-to-live: the holder renews it
/// every third of ``ttl``; when it stops (crash, network partition), the record lapses and
/// another candidate takes it, so a dead leader is replaced within about the TTL plus one retry
/// interval.
///
/// A `Service`: ``run()`` campaigns until graceful shutdown (which gives the duty up at once),
/// ``resign()``, or cancellation (which does not: the record lapses after the TTL, as after a
/// crash). The store must be running. Expiry uses the store's clock, so candidates' clocks need
/// not agree; ``isLeader`` turns false locally one TTL after the last successful renewal began,
/// before any other candidate can take over.
///
/// Not a fencing token: a leader paused for longer than the TTL (a stopped process) may act
/// once more after losing the duty, so duties must be safe to run twice (rescue, prune and a
/// schedule's keyed ticks are). Cost: one small store operation per candidate every `ttl / 3`.
///
/// As a ``LeadershipGate`` it gates a ``PeriodicScheduler`` (use a duty of its own, say
/// `"cron"`, so that schedules and maintenance may have different leaders).
public final class LeaderElection: LeadershipGate, Service, Sendable {
    /// The duty's name (one record per duty).
    public let duty: String
    /// This candidate's name.
    public let holder: String
    /// How long a leadership lasts without renewal (at least 100 ms).
    public let ttl: Duration
    private let store: any LeadershipStore
    private let logger: Logger
    /// Until when (monotonic) this candidate knows itself leader; nil when it is not.
    private let leaseEnd = Mutex<ContinuousClock.Instant?>(nil)
    private let changed = WakeSignal()
    /// Set by ``resign()``: the campaign stops.
    private let resigned = Atomic<Bool>(false)

    /// A candidate for `duty` among the processes sharing `store`; `logger` gets leadership
    /// changes and failed campaigns.
    public init(
        store: any LeadershipStore, duty: String, holder: String = WorkerConfiguration.defaultWorkerID(), ttl: Duration = .seconds(10),
        logger: Logger = Logger(label: "spool.leader")
    ) {
        self.store = store
        self.duty = duty
        self.holder = holder
        self.ttl = max(ttl, .milliseconds(100))
        self.logger = logger
    }

    /// True while this process holds the duty. May turn false at any time (a lost renewal); a
    /// leader checks it before each round of its duty.
    public var isLeader: Bool {
        leaseEnd.withLock { end in
            guard let end else { return false }
            return ContinuousClock.now < end
        }
    }

    /// Suspends until this candidate is leader (or the task is cancelled).
    public func waitForLeadership() async throws {
        while true {
            let ticket = changed.ticket()
            if isLeader { return }
            try Task.checkCancellation()
            await changed.wait(ticket, until: Date().adding(ttl / 3), clock: SystemClock())
        }
    }

    /// Campaigns: tries to take or renew the duty every `ttl / 3` until graceful shutdown
    /// (then gives it up), ``resign()`` or cancellation. Failures (the store unreachable) are
    /// logged and retried; leadership lapses locally after the TTL meanwhile.
    public func run() async throws {
        let interval = ttl / 3
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled, !self.resigned.load(ordering: .acquiring) {
                await self.campaign()
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
        if Task.isShuttingDownGracefully, isLeader {
            try? await resign()
        }
    }

    /// Gives the duty up at once and stops campaigning (``run()`` returns within `ttl / 3`):
    /// another candidate takes the duty at its next try. A renewal in flight at that moment may
    /// still take the record once more; it then lapses after the TTL.
    /// - Throws: the store's error when it cannot be reached (the duty then lapses after the
    ///   TTL).
    public func resign() async throws {
        resigned.store(true, ordering: .releasing)
        leaseEnd.withLock { $0 = nil }
        changed.signal()
        try await store.releaseLeadership(duty: duty, holder: holder)
    }

    private func campaign() async {
        let started = ContinuousClock.now
        do {
            let won = try await store.acquireLeadership(duty: duty, holder: holder, ttl: ttl) && !resigned.load(ordering: .acquiring)
            let was = isLeader
            leaseEnd.withLock { $0 = won ? started + ttl : nil }
            if won != was {
                changed.signal()
                logger.info(won ? "became leader" : "lost leadership", metadata: ["spool.duty": "\(duty)", "spool.holder": "\(holder)"])
            }
        } catch {
            logger.warning("leader election failed; retrying", metadata: ["spool.duty": "\(duty)", "spool.error": "\(error)"])
        }
    }
}
