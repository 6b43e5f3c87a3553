// SQLiteStorage: running SQL off the cooperative pool, in write and read transactions.

import GRDB
import Logging
import Spool
import Synchronization

extension SQLiteStorage {
    // MARK: Running SQL off the cooperative pool

    private func checkOpen(_ operation: String) throws {
        if closed.load(ordering: .sequentiallyConsistent) {
            throw SpoolError(code: .storageUnavailable, message: "SQLite job store '\(path)': \(operation) failed: the storage is closed")
        }
    }

    /// Runs `body` in one IMMEDIATE transaction on the writer connection. Not cancellable:
    /// the transaction commits or rolls back as a whole.
    ///
    /// `synced: false` commits without waiting for the disk (`synchronous = NORMAL` for this
    /// transaction), whatever ``Configuration/durability`` says: for claims, heartbeats and
    /// (unless ``Configuration/syncsOutcomes``) outcomes, whose loss in a power cut (or OS
    /// crash) only puts a job back to where it was before, so it runs again (at least once,
    /// as always). The checkpointer syncs such commits within ``Configuration/syncInterval``,
    /// and the next synced commit (an enqueue) syncs them too.
    ///
    /// `settled`, when given, runs on the writer's thread once the transaction committed
    /// (`true`) or rolled back (`false`), before the caller resumes.
    func write<T: Sendable>(
        _ operation: String, synced: Bool = true, settled: (@Sendable (_ committed: Bool) -> Void)? = nil,
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try checkOpen(operation)
        let path = self.path
        let busyTimeout = configuration.busyTimeout
        let relaxed = !synced && configuration.durability != .normal
        // A commit that does not wait for the disk gets there within the sync interval.
        let unsynced = relaxed || configuration.durability == .normal
        let logger = configuration.logger
        let checkpointer = self.checkpointer
        let restore = "PRAGMA synchronous = \(configuration.durability.pragma)"
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pool.asyncWriteWithoutTransaction { db in
                do {
                    var value: T?
                    if relaxed { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                    defer {
                        // A pragma on an open connection does not fail; if it ever did, say so:
                        // later commits would not wait for the disk.
                        if relaxed {
                            do { try db.execute(sql: restore) } catch {
                                logger.error(
                                    "could not restore synchronous commits on the writer connection",
                                    metadata: [
                                        "spool.error": "\(error)", "spool.sqlite.path": "\(path)",
                                    ])
                            }
                        }
                    }
                    do {
                        try db.inTransaction(.immediate) {
                            value = try body(db)
                            return .commit
                        }
                    } catch {
                        settled?(false)
                        throw error
                    }
                    settled?(true)
                    if unsynced { checkpointer.commitUnsynced() }
                    continuation.resume(returning: value!)
                } catch {
                    continuation.resume(throwing: SpoolError.sqlite(error, path: path, operation: operation, busyTimeout: busyTimeout))
                }
            }
        }
    }

    /// Runs `body` in a read transaction on a reader connection (a consistent snapshot of the
    /// last commit).
    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen(operation)
        let path = self.path
        let busyTimeout = configuration.busyTimeout
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pool.asyncRead { result in
                do {
                    continuation.resume(returning: try body(try result.get()))
                } catch {
                    continuation.resume(throwing: SpoolError.sqlite(error, path: path, operation: operation, busyTimeout: busyTimeout))
                }
            }
        }
    }
}
