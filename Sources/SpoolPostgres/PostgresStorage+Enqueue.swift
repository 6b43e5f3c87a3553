// PostgresStorage: enqueue, on a pooled connection (INSERT or COPY) or inside the caller's transaction.

import Foundation
import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Enqueue

    /// Stores the jobs in one statement (all of them or, on an error, none) and notifies idle
    /// workers everywhere.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder (read in the same
    /// transaction). `whenFull` is ignored: the driver is unbounded.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists (or appears twice in the batch), `unencodablePayload`, or `storageUnavailable`;
    ///   nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: \.usesWorkflows) { return try await enqueueWorkflow(jobs, batch: nil, now: now) }
        let insert = try InsertBatch(jobs, now: now)
        // COPY finds the table on the pool's search_path, which is set with prepared statements.
        // It encodes the payloads as it sends them; an INSERT's are encoded before any I/O.
        let copies = configuration.preparedStatements && !insert.hasUniqueKeys && insert.count >= CopyRows.minimumBatch
        let bodies = copies ? nil : try insert.bodies()
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        let results: [EnqueueResult]
        if let bodies, let handed = try await handOff(jobs, insert, bodies, now: now) { return handed }
        do {
            if let bodies, !insert.hasUniqueKeys, hasRoutines {
                // One round trip that returns once committed (see `PostgresRoutine`).
                let bindings = insert.bindings(bodies, channel: configuration.notifications ? channel : nil, keys: false)
                _ =
                    configuration.notifications
                    ? try await called(HotSQL.KeylessEnqueue.self, bindings) : try await called(HotSQL.QuietKeylessEnqueue.self, bindings)
                results = insert.storedResults
            } else {
                // In a transaction even for one statement: see `committedRows` (and the holders of
                // unique keys are read in the same transaction as the insert).
                results = try await withTransaction { connection in
                    guard let bodies else {
                        try await self.copy(insert, on: connection)
                        return insert.storedResults
                    }
                    return try await self.insert(insert, bodies, on: connection, prepare: self.configuration.preparedStatements)
                }
            }
        } catch {
            throw insert.mapError(error, target: target)
        }
        workSignal.signal()
        return results
    }

    /// Stores jobs on the caller's own connection, inside the caller's transaction: the jobs
    /// exist if and only if that transaction commits (transactional enqueue, the "outbox"
    /// pattern without an outbox).
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO orders ...", logger: logger)
    ///     _ = try await storage.enqueue([job], on: connection, now: Date())
    /// }
    /// ```
    /// The notification is sent by the same statement, so PostgreSQL delivers it only at commit
    /// (and drops it on rollback). The connection may belong to any pool on the same database;
    /// it needs no ``run()`` of this storage, only a migrated schema. Unique keys and errors
    /// behave as in ``enqueue(_:whenFull:now:)``; an error aborts the caller's transaction, as
    /// any failed statement does.
    public func enqueue(_ jobs: [NewJob], on connection: PostgresConnection, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: \.usesWorkflows) {
            do {
                let (results, _) = try await onLoop(of: connection) { connection in
                    try await self.enqueueWorkflow(jobs, batch: nil, now: now, on: connection)
                }
                workSignal.signal()
                return results
            } catch {
                throw Self.workflowError(error, count: jobs.count, target: target)
            }
        }
        let insert = try InsertBatch(jobs, now: now)
        let bodies = try insert.bodies()
        do {
            // The caller's connection has the caller's search_path: no prepared statements.
            let results = try await onLoop(of: connection) { connection in
                try await self.insert(insert, bodies, on: connection, prepare: false)
            }
            workSignal.signal()
            return results
        } catch {
            throw insert.mapError(error, target: target)
        }
    }

    /// Stores a batch without unique keys with COPY (see ``CopyRows``) on a pooled connection,
    /// inside the transaction open on it, and notifies its queues in that transaction.
    private func copy(_ insert: InsertBatch, on connection: CheckedConnection) async throws {
        try await connection.copy(into: "jobs", columns: CopyRows.columns) { send in try await CopyRows.send(insert, to: send) }
        if configuration.notifications {
            _ = try await run(
                HotSQL.Notify.self,
                binds {
                    $0.append(channel); $0.append(Array(Set(insert.queues)))
                }, on: connection, prepare: true)
        }
    }

    /// Inserts the batch on `connection` and reads the holders of the keys it could not take
    /// (only keyed jobs can be left out; nothing else is).
    private func insert(
        _ insert: InsertBatch, _ bodies: InsertBatch.Bodies, on connection: CheckedConnection, prepare: Bool
    ) async throws -> [EnqueueResult] {
        if !insert.hasUniqueKeys {
            _ =
                configuration.notifications
                ? try await run(
                    HotSQL.KeylessEnqueue.self, insert.bindings(bodies, channel: channel, keys: false), on: connection, prepare: prepare)
                : try await run(
                    HotSQL.QuietKeylessEnqueue.self, insert.bindings(bodies, channel: nil, keys: false), on: connection, prepare: prepare)
            return insert.storedResults
        }
        let rows =
            configuration.notifications
            ? try await run(HotSQL.Enqueue.self, insert.bindings(bodies, channel: channel), on: connection, prepare: prepare)
            : try await run(HotSQL.QuietEnqueue.self, insert.bindings(bodies, channel: nil), on: connection, prepare: prepare)
        var holders: [PostgresRow] = []
        if rows.count < insert.count {
            holders = try await run(HotSQL.Holders.self, binds { $0.append(insert.keys) }, on: connection, prepare: prepare)
        }
        return try insert.results(inserted: rows, holders: holders)
    }
}
