// SQLiteStorage: enqueue, inserting new jobs in multi-row statements and naming the holders of unique keys.

import Foundation
import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Enqueue

    /// A new job's column values, prepared (payload encoded) before the transaction.
    struct InsertRow: Sendable {
        let id: JobID
        let queue: String
        let kind: String
        let payload: [UInt8]
        let priority: Int
        let state: JobState
        let maxAttempts: Int
        let runAt: Int64
        let createdAt: Int64
        let uniqueKey: String?
        let timeout: Int64?
        let metadata: String?
        /// The metadata itself, for a job handed straight to a waiting worker.
        let metadataValues: [String: String]
    }

    /// Stores the jobs in one transaction: all of them or (on an error) none.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder. `whenFull` is
    /// ignored: the SQLite driver is unbounded.
    ///
    /// Cost: one transaction; jobs without a unique key are inserted up to 64 per statement,
    /// jobs with one a statement each.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists, `unencodablePayload`, or `storageUnavailable`; nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: \.usesWorkflows) { return try await enqueueWorkflow(jobs, batch: nil, now: now) }
        let nowMicros = SQLiteCoding.micros(now)
        let rows: [InsertRow] = try jobs.map { job in
            let job = try job.validated()
            let runAt = SQLiteCoding.micros(job.runAt)
            return InsertRow(
                id: job.id, queue: job.queue, kind: job.kind, payload: try job.payload.encoded(),
                priority: job.priority, state: runAt > nowMicros ? .scheduled : .available,
                maxAttempts: job.maxAttempts, runAt: runAt, createdAt: SQLiteCoding.micros(job.createdAt),
                uniqueKey: job.uniqueKey, timeout: job.timeout.map(SQLiteCoding.micros),
                metadata: try SQLiteCoding.encodeMetadata(job.metadata), metadataValues: job.metadata
            )
        }
        // Waiting workers of this process get the new jobs claimed for them in this
        // transaction; every waiter is woken once it commits (before this call returns).
        let handOff = HandOff(claimWaiters)
        let workSignal = self.workSignal
        return try await write(
            "enqueue of \(jobs.count) job(s)",
            settled: { committed in
                if handOff.settle(committed: committed) { workSignal.signal() }
            }
        ) { db in
            let waiters = handOff.take(for: rows)
            let leases = waiters.isEmpty ? [:] : try Self.leases(for: rows, to: waiters, now: nowMicros, db)
            let results = try Self.insert(rows, leased: leases, db)
            handOff.complete(rows, leases: leases, stored: results.contains { !$0.existing }, now: nowMicros, db)
            return results
        }
    }

    private static let insertSQL = """
        INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, timeout_us, metadata)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND \(SQLiteSchema.liveCondition) DO NOTHING
        """

    /// The most jobs without a unique key one INSERT statement stores (11 parameters each).
    static let insertChunkSize = 64

    /// An INSERT of `count` jobs without a unique key (their `unique_key` is NULL, so they
    /// cannot conflict on it; an id that exists fails the whole statement).
    private static let chunkInsertSQL: [Int: String] = {
        var sql: [Int: String] = [:]
        var count = insertChunkSize
        while count >= 1 {
            let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
            sql[count] = """
                INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                VALUES \(values)
                """
            count /= 2
        }
        return sql
    }()

    static let holderSQL = """
        SELECT id, state FROM spool_jobs INDEXED BY spool_jobs_unique_key WHERE unique_key = ? AND \(SQLiteSchema.liveCondition)
        """

    /// Inserts `rows`; those in `leased` (by index) as running under their lease.
    private static func insert(_ rows: [InsertRow], leased: [Int: Lease], _ db: Database) throws -> [EnqueueResult] {
        var results: [EnqueueResult] = []
        results.reserveCapacity(rows.count)
        // Runs of jobs without a unique key go in multi-row statements (in order, chunks of
        // `insertChunkSize`, then halves: few distinct statements to cache); a job with a unique key
        // is inserted on its own, so its result can name the holder of the key, and so is a job
        // that goes straight to a waiting worker.
        var start = 0
        while start < rows.count {
            if let lease = leased[start] {
                results.append(try insertLeased(rows[start], lease, db))
                start += 1
                continue
            }
            if rows[start].uniqueKey != nil {
                results.append(try insertOne(rows[start], db))
                start += 1
                continue
            }
            var end = start
            while end < rows.count, end - start < insertChunkSize, rows[end].uniqueKey == nil, leased[end] == nil { end += 1 }
            var size = insertChunkSize
            while start < end {
                while size > end - start { size /= 2 }
                try insertChunk(rows[start..<(start + size)], db)
                for row in rows[start..<(start + size)] {
                    results.append(EnqueueResult(id: row.id, state: row.state, existing: false))
                }
                start += size
            }
        }
        return results
    }

    /// Inserts jobs without a unique key in one statement. When an id already exists the
    /// statement stores nothing, and the jobs are inserted one by one to name the id.
    private static func insertChunk(_ rows: ArraySlice<InsertRow>, _ db: Database) throws {
        guard rows.count > 1, let sql = chunkInsertSQL[rows.count] else {
            for row in rows { _ = try insertOne(row, db) }
            return
        }
        let statement = try db.cachedStatement(sql: sql)
        var binder = statement.rawBinder(db)
        for row in rows {
            try bindColumns(row, uniqueKey: false, &binder)
        }
        do {
            try statement.execute()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            // The failed statement changed nothing: find the id one job at a time.
            for row in rows { _ = try insertOne(row, db) }
            throw error  // not reached: one of them failed
        }
    }

    /// Binds one job's columns in the order of the insert statements; `uniqueKey` for the
    /// single-row statement (the multi-row one is for jobs without a key and has no such column);
    /// `state` in place of the row's own (a job handed to a waiting worker is `running`).
    private static func bindColumns(_ row: InsertRow, uniqueKey: Bool, state: JobState? = nil, _ binder: inout RawBinder) throws {
        try binder.bind(row.id)
        try binder.bind(row.queue)
        try binder.bind(row.kind)
        try binder.bindBlobOrNull(row.payload)
        try binder.bind(row.priority)
        try binder.bind((state ?? row.state).rawValue)
        try binder.bind(row.maxAttempts)
        try binder.bind(row.runAt)
        try binder.bind(row.createdAt)
        if uniqueKey { try binder.bind(row.uniqueKey) }
        try binder.bind(row.timeout)
        try binder.bind(row.metadata)
    }

    private static let leasedInsertSQL = """
        INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata,
            attempt, attempted_at, lease_owner, lease_expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
        """

    /// Inserts one job (without a unique key) as claimed by a waiting worker: running, its
    /// first attempt, under `lease`, as a claim at the same time would have left it.
    private static func insertLeased(_ row: InsertRow, _ lease: Lease, _ db: Database) throws -> EnqueueResult {
        let insert = try db.cachedStatement(sql: Self.leasedInsertSQL)
        var binder = insert.rawBinder(db)
        try bindColumns(row, uniqueKey: false, state: .running, &binder)
        try binder.bind(lease.attemptedAt)
        try binder.bind(lease.worker)
        try binder.bind(lease.expiresAt)
        try execute(insert, row)
        return EnqueueResult(id: row.id, state: .running, existing: false)
    }

    /// Runs a single-row insert; an id that exists is `invalidArgument` naming it.
    private static func execute(_ insert: Statement, _ row: InsertRow) throws {
        do {
            try insert.execute()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw SpoolError(code: .invalidArgument, message: "a job with id \(row.id) already exists", job: row.id)
        }
    }

    /// Inserts one job; a unique key held by a live job stores nothing and names the holder.
    private static func insertOne(_ row: InsertRow, _ db: Database) throws -> EnqueueResult {
        let insert = try db.cachedStatement(sql: Self.insertSQL)
        var binder = insert.rawBinder(db)
        try bindColumns(row, uniqueKey: true, &binder)
        try execute(insert, row)
        if db.changesCount > 0 {
            return EnqueueResult(id: row.id, state: row.state, existing: false)
        }
        // The unique key is held by a live job: name it.
        guard let key = row.uniqueKey,
            let holder = try Row.fetchOne(db.cachedStatement(sql: Self.holderSQL), arguments: [key])
        else {
            throw SpoolError(
                code: .storageUnavailable, message: "job \(row.id) was not stored and no live job holds its unique key", job: row.id)
        }
        return EnqueueResult(
            id: try SQLiteCoding.id(holder.decode(atIndex: 0)), state: try SQLiteCoding.state(holder.decode(atIndex: 1)),
            existing: true
        )
    }
}
