import Foundation
import Spool

/// Leader election on one Redis key with a time-to-live (`SET key holder NX PX ttl`): a
/// ``LeaderElection`` whose store is a ``RedisStorage``. Expiry uses the server's clock. Cost:
/// one small script per candidate every `ttl / 3`.
public typealias RedisLeaderElection = LeaderElection

extension LeaderElection {
    /// A candidate for `duty` among the processes sharing `storage`'s namespace; the storage's
    /// ``RedisStorage/run()`` must be running.
    public convenience init(
        storage: RedisStorage, duty: String, holder: String = WorkerConfiguration.defaultWorkerID(), ttl: Duration = .seconds(10)
    ) {
        self.init(store: storage, duty: duty, holder: holder, ttl: ttl, logger: storage.configuration.logger)
    }
}

extension RedisStorage: LeadershipStore {
    public func acquireLeadership(duty: String, holder: String, ttl: Duration) async throws -> Bool {
        let reply = try await perform(
            .lead, [RedisCoding.arg(duty), RedisCoding.arg(holder), RedisCoding.arg(RedisCoding.millis(ttl))], "campaigning for '\(duty)'")
        return reply.int == 1
    }

    public func releaseLeadership(duty: String, holder: String) async throws {
        _ = try await perform(.resign, [RedisCoding.arg(duty), RedisCoding.arg(holder)], "resigning leadership of '\(duty)'")
    }
}
