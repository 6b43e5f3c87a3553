import Foundation
import PostgresNIO
import Spool

/// Leader election on a row of `<schema>.leaders` with a time-to-live: a ``LeaderElection``
/// whose store is a ``PostgresStorage``. Expiry uses the database's clock. Cost: one single-row
/// upsert per candidate every `ttl / 3`.
public typealias PostgresLeaderElection = LeaderElection

extension LeaderElection {
    /// A candidate for `duty` among the processes sharing `storage`'s schema; the storage's
    /// ``PostgresStorage/run()`` must be running.
    public convenience init(
        storage: PostgresStorage, duty: String, holder: String = WorkerConfiguration.defaultWorkerID(), ttl: Duration = .seconds(10)
    ) {
        self.init(store: storage, duty: duty, holder: holder, ttl: ttl, logger: storage.configuration.logger)
    }
}

extension PostgresStorage: LeadershipStore {
    public func acquireLeadership(duty: String, holder: String, ttl: Duration) async throws -> Bool {
        let rows = try await committedRows(
            sql.acquireLeader,
            binds {
                $0.append(duty)
                $0.append(holder)
                $0.append(PostgresCoding.micros(ttl))
            }, "campaigning for '\(duty)'")
        return !rows.isEmpty
    }

    public func releaseLeadership(duty: String, holder: String) async throws {
        _ = try await committedRows(
            sql.releaseLeader,
            binds {
                $0.append(duty); $0.append(holder)
            }, "releasing leadership of '\(duty)'")
    }
}
