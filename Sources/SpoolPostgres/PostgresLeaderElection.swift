import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Spool
import Synchronization

/// Leader election on a table row with a time-to-live: the holder of `<schema>.leaders` row
/// `duty` renews it every third of ``ttl``; when it stops (crash, network partition), another
/// candidate takes the row once it has expired, so a dead leader is replaced within twice the
/// TTL (the TTL plus one retry interval).
///
/// A `Service`: ``run()`` campaigns until graceful shutdown (which releases the duty at once)
/// or cancellation (which does not: the row lapses after the TTL, as after a crash). Needs the
/// storage's ``PostgresStorage/run()`` running. Expiry uses the database's clock, so candidates'
/// clocks need not agree; ``isLeader`` turns false locally one TTL after the last successful
/// renewal began, before any other candidate can take over.
///
/// Cost: one single-row upsert per candidate every `ttl / 3`.
///
/// As a ``LeadershipGate`` it gates a ``PeriodicScheduler`` (use a duty of its own, say
/// `"cron"`, so that schedules and maintenance may have different leaders).
public final class PostgresLeaderElection: LeadershipGate, Service, Sendable {
    /// The duty's name (one row per duty).
    public let duty: String
    /// This candidate's name.
    public let holder: String
    /// How long a leadership lasts without renewal.
    public let ttl: Duration
    private let storage: PostgresStorage
    /// Until when (monotonic) this candidate knows itself leader; nil when it is not.
    private let leaseEnd = Mutex<ContinuousClock.Instant?>(nil)
    private let changed = WakeSignal()

    /// A candidate for `duty` among the processes sharing `storage`'s schema.
    public init(
        storage: PostgresStorage, duty: String, holder: String = WorkerConfiguration.defaultWorkerID(), ttl: Duration = .seconds(10)
    ) {
        self.storage = storage
        self.duty = duty
        self.holder = holder
        self.ttl = max(ttl, .milliseconds(100))
    }

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
    /// (then releases it) or cancellation. Failures (the database unreachable) are logged and
    /// retried; leadership lapses locally after the TTL meanwhile.
    public func run() async throws {
        let interval = ttl / 3
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.campaign()
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
        if Task.isShuttingDownGracefully, isLeader {
            leaseEnd.withLock { $0 = nil }
            _ = try? await storage.rows(
                storage.sql.releaseLeader, binds { $0.append(duty); $0.append(holder) }, "releasing leadership of '\(duty)'"
            )
        }
    }

    private func campaign() async {
        let started = ContinuousClock.now
        do {
            let rows = try await storage.rows(storage.sql.acquireLeader, binds {
                $0.append(duty)
                $0.append(holder)
                $0.append(PostgresCoding.micros(ttl))
            }, "campaigning for '\(duty)'")
            let won = !rows.isEmpty
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
