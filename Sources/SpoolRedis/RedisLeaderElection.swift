import Foundation
import ServiceLifecycle
import Spool
import Synchronization

/// Leader election on one Redis key with a time-to-live (`SET key holder NX PX ttl`): the
/// holder renews it every third of ``ttl``; when it stops (crash, network partition), the key
/// expires and another candidate takes it, so a dead leader is replaced within the TTL plus one
/// retry interval.
///
/// A `Service`: ``run()`` campaigns until graceful shutdown (which gives the duty up at once)
/// or cancellation (which does not: the key lapses after the TTL, as after a crash). Needs the
/// storage's ``RedisStorage/run()`` running. Expiry uses the server's clock, so candidates'
/// clocks need not agree; ``isLeader`` turns false locally one TTL after the last successful
/// renewal began, before any other candidate can take over.
///
/// Not a fencing token: a leader paused for longer than the TTL (a stopped process) may act
/// once more after losing the duty, so duties must be safe to run twice (rescue and prune are).
/// Cost: one small script per candidate every `ttl / 3`.
///
/// As a ``LeadershipGate`` it gates a ``PeriodicScheduler`` (use a duty of its own, say
/// `"cron"`).
public final class RedisLeaderElection: LeadershipGate, Service, Sendable {
    /// The duty's name (one key per duty).
    public let duty: String
    /// This candidate's name.
    public let holder: String
    /// How long a leadership lasts without renewal.
    public let ttl: Duration
    private let storage: RedisStorage
    /// Until when (monotonic) this candidate knows itself leader; nil when it is not.
    private let leaseEnd = Mutex<ContinuousClock.Instant?>(nil)
    private let changed = WakeSignal()
    /// Set by ``resign()``: the campaign stops.
    private let resigned = Atomic<Bool>(false)

    /// A candidate for `duty` among the processes sharing `storage`'s namespace.
    public init(storage: RedisStorage, duty: String, holder: String = WorkerConfiguration.defaultWorkerID(), ttl: Duration = .seconds(10)) {
        self.storage = storage
        self.duty = duty
        self.holder = holder
        self.ttl = max(ttl, .milliseconds(100))
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
    /// (then gives it up), ``resign()`` or cancellation. Failures (the server unreachable) are
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
    /// still take the key once more; it then lapses after the TTL.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the server cannot be reached (the
    ///   duty then lapses after the TTL).
    public func resign() async throws {
        resigned.store(true, ordering: .releasing)
        leaseEnd.withLock { $0 = nil }
        changed.signal()
        _ = try await storage.perform(.resign, [RedisCoding.arg(duty), RedisCoding.arg(holder)], "resigning leadership of '\(duty)'")
    }

    private func campaign() async {
        let started = ContinuousClock.now
        do {
            let reply = try await storage.perform(
                .lead, [RedisCoding.arg(duty), RedisCoding.arg(holder), RedisCoding.arg(RedisCoding.millis(ttl))], "campaigning for '\(duty)'"
            )
            let won = reply.int == 1 && !resigned.load(ordering: .acquiring)
            let was = isLeader
            leaseEnd.withLock { $0 = won ? started + ttl : nil }
            if won != was {
                changed.signal()
                storage.configuration.logger.info(won ? "became leader" : "lost leadership", metadata: [
                    "spool.duty": "\(duty)", "spool.holder": "\(holder)",
                ])
            }
        } catch {
            storage.configuration.logger.warning("leader election failed; retrying", metadata: [
                "spool.duty": "\(duty)", "spool.error": "\(error)",
            ])
        }
    }
}
