// SQLiteStorage: storing the jobs of a workflow (a batch with its callbacks, jobs with
// dependencies) in one transaction.

import Foundation
import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Enqueue

    /// Stores jobs that use batches or dependencies (and, with `batch`, the batch and its
    /// callbacks) in one transaction, all or nothing.
    func enqueueWorkflow(_ jobs: [NewJob], batch: NewBatch?, now: Date) async throws -> [EnqueueResult] {
        let jobs = try jobs.map { try $0.validated() }
        let order = try WorkflowPlan.order(jobs)
        let nowMicros = SQLiteCoding.micros(now)
        let rows = try jobs.map { job in
            try WorkflowRow(job: job, batch: batch?.id ?? job.batch, now: nowMicros)
        }
        let callbacks = try batch.map { batch in
            try batch.callbacks.events.map { event, job in try CallbackRow(job: job, batch: batch.id, event: event) }
        }
        let (results, settled) = try await write("enqueue of \(jobs.count) job(s) of a workflow") { db in
            if let batch, let callbacks { try Self.insertBatch(batch, callbacks: callbacks, db) }
            try Self.checkJoinedBatches(jobs, created: batch?.id, db)
            let results = try Self.insertWorkflow(rows, order: order, now: now, db)
            // Jobs that were not stored (their unique key is held) are not members.
            var skipped: [JobID: Int] = [:]
            for (row, result) in zip(rows, results) where result.existing {
                if let batch = row.batch { skipped[batch.raw, default: 0] += 1 }
            }
            for (batch, count) in skipped {
                try db.execute(
                    sql: "UPDATE spool_batches SET total = total - ? WHERE id = ?", arguments: [count, SQLiteCoding.blob(batch)])
            }
            return (results, try Self.settleDependents(db))
        }
        finishWatch.notify(settled.cancelled)
        batchWatch.notify(settled.finishedBatches)
        if results.contains(where: { !$0.existing && $0.state != .pending }) || settled.released { workSignal.signal() }
        return results
    }

    /// A job of a workflow enqueue, its columns prepared before the transaction.
    private struct WorkflowRow: Sendable {
        let id: JobID
        let job: NewJob
        let payload: [UInt8]
        let batch: BatchID?
        let runAt: Int64
        let createdAt: Int64
        let timeout: Int64?
        let metadata: String?
        let state: JobState

        init(job: NewJob, batch: BatchID?, now: Int64) throws {
            id = job.id
            self.job = job
            payload = try job.payload.encoded()
            self.batch = batch
            runAt = SQLiteCoding.micros(job.runAt)
            createdAt = SQLiteCoding.micros(job.createdAt)
            timeout = job.timeout.map(SQLiteCoding.micros)
            metadata = try SQLiteCoding.encodeMetadata(job.metadata)
            state = runAt > now ? .scheduled : .available
        }
    }

    /// A batch's callback job, stored with the batch and copied into the jobs when it fires.
    private struct CallbackRow: Sendable {
        let event: BatchEvent
        let job: NewJob
        let payload: [UInt8]
        let metadata: String?

        init(job: NewJob, batch: BatchID, event: BatchEvent) throws {
            self.event = event
            self.job = job
            payload = try job.payload.encoded()
            var metadata = job.metadata
            metadata[BatchCallbacks.batchKey] = batch.description
            metadata[BatchCallbacks.eventKey] = event.rawValue
            self.metadata = try SQLiteCoding.encodeMetadata(metadata)
        }
    }

    private static func insertBatch(_ batch: NewBatch, callbacks: [CallbackRow], _ db: Database) throws {
        let blob = SQLiteCoding.blob(batch.id.raw)
        if try Row.fetchOne(db, sql: "SELECT 1 FROM spool_batches WHERE id = ?", arguments: [blob]) != nil {
            throw SpoolError(code: .unprocessable, message: "batch: a batch with id \(batch.id) already exists")
        }
        // The total counts every job of the call from the start, so the batch cannot finish
        // while they are being stored.
        try db.execute(
            sql: "INSERT INTO spool_batches (id, created_at, total) VALUES (?, ?, ?)",
            arguments: [blob, SQLiteCoding.micros(batch.createdAt), batch.jobs.count])
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO spool_batch_callbacks (batch_id, event, id, queue, kind, payload, priority, max_attempts, run_at, created_at, timeout_us, metadata)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for callback in callbacks {
            let job = callback.job
            try insert.execute(arguments: [
                blob, callback.event.rawValue, SQLiteCoding.blob(job.id), job.queue, job.kind,
                callback.payload.isEmpty ? nil : Data(callback.payload), job.priority, job.maxAttempts,
                SQLiteCoding.micros(job.runAt), SQLiteCoding.micros(job.createdAt), job.timeout.map(SQLiteCoding.micros),
                callback.metadata,
            ])
        }
    }

    /// Checks the batches that jobs join (other than the one being created) and counts the
    /// jobs into them.
    private static func checkJoinedBatches(_ jobs: [NewJob], created: BatchID?, _ db: Database) throws {
        var joining: [BatchID: (count: Int, job: JobID)] = [:]
        for job in jobs {
            guard let batch = job.batch, batch != created else { continue }
            joining[batch, default: (0, job.id)].count += 1
        }
        for (id, joined) in joining.sorted(by: { $0.key < $1.key }) {
            guard let record = try batchRecord(id, db, counts: false) else {
                throw SpoolError(code: .unprocessable, message: "batch: no batch has id \(id)", job: joined.job)
            }
            guard record.state == .running else {
                throw SpoolError(
                    code: .unprocessable,
                    message: "batch: batch \(id) is \(record.state.rawValue): jobs can be added only while it runs", job: joined.job)
            }
            try db.execute(
                sql: "UPDATE spool_batches SET total = total + ? WHERE id = ?", arguments: [joined.count, SQLiteCoding.blob(id.raw)])
        }
    }

    private static let insertWorkflowSQL = """
        INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, timeout_us,
            metadata, batch_id, waiting_on, on_dependency_failure)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND \(SQLiteSchema.liveCondition) DO NOTHING
        """

    private static let dependencyStateSQL = "SELECT state FROM spool_jobs WHERE id = ?"
    private static let addDependencySQL = "INSERT OR IGNORE INTO spool_dependencies (job_id, depends_on) VALUES (?, ?)"
    private static let markDependedOnSQL = "UPDATE spool_jobs SET has_dependents = 1 WHERE id = ? AND has_dependents IS NULL"

    /// Inserts the jobs in `order` (each after the jobs of the call it depends on); a job's
    /// dependencies are resolved to the job that holds a unique key when one was not stored.
    private static func insertWorkflow(_ rows: [WorkflowRow], order: [Int], now: Date, _ db: Database) throws -> [EnqueueResult] {
        var results = [EnqueueResult?](repeating: nil, count: rows.count)
        var alias: [JobID: JobID] = [:]
        let insert = try db.cachedStatement(sql: insertWorkflowSQL)
        // Jobs without dependencies or a unique key (most of a batch) go many per statement;
        // each run of them is stored before a job that may depend on them.
        var plain: [Int] = []
        func storePlain() throws {
            try insertPlain(plain.map { rows[$0] }, db)
            for index in plain { results[index] = EnqueueResult(id: rows[index].id, state: rows[index].state, existing: false) }
            plain.removeAll(keepingCapacity: true)
        }
        for index in order {
            let row = rows[index]
            let job = row.job
            if job.dependencies.isEmpty && job.uniqueKey == nil {
                plain.append(index)
                if plain.count == insertChunkSize { try storePlain() }
                continue
            }
            try storePlain()
            let dependencies = Array(Set(job.dependencies.map { alias[$0] ?? $0 })).sorted()
            var standing = DependencyStanding(failure: job.dependencyFailure)
            for dependency in dependencies {
                guard
                    let text = try String.fetchOne(
                        db.cachedStatement(sql: dependencyStateSQL), arguments: [SQLiteCoding.blob(dependency)])
                else {
                    throw SpoolError(code: .unprocessable, message: "depends_on: no job has id \(dependency)", job: job.id)
                }
                standing.count(dependency, try SQLiteCoding.state(text))
            }
            let waiting = standing.unfinished
            let state: JobState = dependencies.isEmpty || (waiting == 0 && standing.failed == nil) ? row.state : .pending
            let arguments: [(any DatabaseValueConvertible)?] = [
                SQLiteCoding.blob(job.id), job.queue, job.kind, row.payload.isEmpty ? nil : Data(row.payload), job.priority,
                state.rawValue, job.maxAttempts, row.runAt, row.createdAt, job.uniqueKey, row.timeout, row.metadata,
                row.batch.map { SQLiteCoding.blob($0.raw) }, dependencies.isEmpty ? nil : waiting,
                dependencies.isEmpty ? nil : job.dependencyFailure.rawValue,
            ]
            do {
                try insert.execute(arguments: StatementArguments(arguments))
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw SpoolError(code: .invalidArgument, message: "a job with id \(job.id) already exists", job: job.id)
            }
            guard db.changesCount > 0 else {
                // A live job holds the unique key: it stands in for this one.
                guard let key = job.uniqueKey, let holder = try Row.fetchOne(db.cachedStatement(sql: holderSQL), arguments: [key]) else {
                    throw SpoolError(
                        code: .storageUnavailable, message: "job \(job.id) was not stored and no live job holds its unique key", job: job.id
                    )
                }
                let id = try SQLiteCoding.id(holder.decode(atIndex: 0))
                alias[job.id] = id
                results[index] = EnqueueResult(id: id, state: try SQLiteCoding.state(holder.decode(atIndex: 1)), existing: true)
                continue
            }
            let blob = SQLiteCoding.blob(job.id)
            for dependency in dependencies {
                let other = SQLiteCoding.blob(dependency)
                try db.cachedStatement(sql: addDependencySQL).execute(arguments: [blob, other])
                try db.cachedStatement(sql: markDependedOnSQL).execute(arguments: [other])
            }
            var stored = state
            if let (dependency, ended) = standing.failed {
                try cancelPending(
                    job.id, row: nil, error: { .dependencyFailed(dependency, ended: ended, attempt: $0, at: now) }, at: now, db,
                    anyState: true)
                stored = .cancelled
            }
            results[index] = EnqueueResult(id: job.id, state: stored, existing: false)
        }
        try storePlain()
        return results.map { $0! }
    }

    /// An INSERT of `count` jobs without dependencies or a unique key, for the sizes
    /// ``insertChunkSize`` and its halves (few distinct statements to cache).
    private static let plainInsertSQL: [Int: String] = {
        var sql: [Int: String] = [:]
        var count = insertChunkSize
        while count >= 1 {
            let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
            sql[count] = """
                INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata,
                    batch_id)
                VALUES \(values)
                """
            count /= 2
        }
        return sql
    }()

    /// Inserts jobs without dependencies or a unique key, many per statement. When an id
    /// already exists the statement stores nothing, and the jobs are inserted one by one to
    /// name it.
    private static func insertPlain(_ rows: [WorkflowRow], _ db: Database) throws {
        var start = 0
        var size = insertChunkSize
        while start < rows.count {
            while size > rows.count - start { size /= 2 }
            let chunk = rows[start..<(start + size)]
            let statement = try db.cachedStatement(sql: plainInsertSQL[size]!)
            var binder = statement.rawBinder(db)
            for row in chunk {
                try binder.bind(row.id)
                try binder.bind(row.job.queue)
                try binder.bind(row.job.kind)
                try binder.bindBlobOrNull(row.payload)
                try binder.bind(row.job.priority)
                try binder.bind(row.state.rawValue)
                try binder.bind(row.job.maxAttempts)
                try binder.bind(row.runAt)
                try binder.bind(row.createdAt)
                try binder.bind(row.timeout)
                try binder.bind(row.metadata)
                if let batch = row.batch { try binder.bind(batch.raw) } else { try binder.bindNull() }
            }
            do {
                try statement.execute()
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                let exists = try db.cachedStatement(sql: "SELECT 1 FROM spool_jobs WHERE id = ?")
                for row in chunk {
                    guard try Row.fetchOne(exists, arguments: [SQLiteCoding.blob(row.id)]) != nil else { continue }
                    throw SpoolError(code: .invalidArgument, message: "a job with id \(row.id) already exists", job: row.id)
                }
                throw error
            }
            start += size
        }
    }
}
