// PostgresStorage: storing the jobs of a workflow (a batch with its callbacks, jobs with
// dependencies) in one transaction.

import Foundation
import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Enqueue

    /// Stores jobs that use batches or dependencies (and, with `batch`, the batch and its
    /// callbacks) in one transaction on `connection`, all or nothing.
    ///
    /// The jobs' rows are locked before the batches' (as a finish does: its jobs, then their
    /// batch in its trigger), so the two cannot deadlock. Dependencies outside the call are
    /// marked depended on (and locked) first: a finish of one that commits meanwhile waits
    /// for this transaction and then notes the new dependents. Each job's state is worked out
    /// here from its dependencies' states, so the jobs of the call go in one INSERT.
    func enqueueWorkflow(
        _ jobs: [NewJob], batch: NewBatch?, now: Date, on connection: CheckedConnection
    ) async throws -> (results: [EnqueueResult], queues: Set<String>) {
        let jobs = try jobs.map { try $0.validated() }
        let order = try WorkflowPlan.order(jobs)
        let s = sql.prefix
        let nowMicros = PostgresCoding.micros(now)
        var plan = WorkflowInsert(jobs: jobs, batch: batch?.id, now: nowMicros)

        // Jobs whose unique key a live job holds are not stored: the holder stands in.
        let keys = Array(Set(jobs.compactMap(\.uniqueKey)))
        if !keys.isEmpty {
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "\(sql.holders) FOR UPDATE", binds: binds { $0.append(PostgresArray(.texts(keys))) }))
            var holders: [String: (JobID, JobState)] = [:]
            for row in rows {
                let (key, uuid, state) = try row.decode((String, UUID, String).self)
                holders[key] = (PostgresCoding.id(uuid), try PostgresCoding.state(state))
            }
            plan.resolveKeys(holders: holders)
        }

        // Dependencies outside the call: marked depended on (locked), their states read.
        let outside = plan.outsideDependencies()
        var outsideStates: [JobID: JobState] = [:]
        if !outside.isEmpty {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE \(s)jobs SET has_dependents = true WHERE id = ANY($1::uuid[]) RETURNING id, state",
                    binds: binds { $0.append(PostgresArray(.uuids(outside.map(\.dependency).map(PostgresCoding.uuid)))) }))
            for row in rows {
                let (uuid, state) = try row.decode((UUID, String).self)
                let id = PostgresCoding.id(uuid)
                outsideStates[id] = try PostgresCoding.state(state, job: id)
            }
            if let missing = outside.first(where: { outsideStates[$0.dependency] == nil }) {
                throw SpoolError(code: .unprocessable, message: "depends_on: no job has id \(missing.dependency)", job: missing.job)
            }
        }
        try plan.settleStates(order: order, outside: outsideStates, now: now)

        // The batches: the new one, and those jobs join (locked, checked, counted).
        if let batch { try await insertBatch(batch, total: plan.members[batch.id] ?? 0, on: connection) }
        try await joinBatches(plan, created: batch?.id, on: connection)

        if plan.storedCount > 0 {
            _ = try await connection.query(PostgresQuery(unsafeSQL: Self.insertWorkflowSQL(s), binds: try plan.bindings()))
        }
        let edges = plan.edges
        if !edges.isEmpty {
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(s)dependencies (job_id, depends_on) SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING
                        """,
                    binds: binds {
                        $0.append(PostgresArray(.uuids(edges.map { PostgresCoding.uuid($0.job) })))
                        $0.append(PostgresArray(.uuids(edges.map { PostgresCoding.uuid($0.dependency) })))
                    }))
        }
        // Jobs cancelled as they were stored (a dependency had failed) count in their batches
        // at once; a batch may finish so (or be empty, every job's key held by another).
        for (id, cancelled) in plan.cancelledMembers.sorted(by: { $0.key < $1.key }) where cancelled > 0 {
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE \(s)batches SET cancelled = cancelled + $2, last_at = GREATEST(last_at, $3) WHERE id = $1",
                    binds: binds {
                        $0.append(PostgresCoding.uuid(id.raw)); $0.append(Int64(cancelled)); $0.append(nowMicros)
                    }))
        }
        for id in plan.batchesToSettle(created: batch?.id) {
            _ = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(s)settle_batch($1)", binds: binds { $0.append(PostgresCoding.uuid(id.raw)) }))
        }
        let queues = plan.claimableQueues
        if configuration.notifications, !queues.isEmpty {
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: sql.notify,
                    binds: binds {
                        $0.append(channel); $0.append(PostgresArray(.texts(Array(queues))))
                    }))
        }
        return (plan.results(), queues)
    }

    private func insertBatch(_ batch: NewBatch, total: Int, on connection: CheckedConnection) async throws {
        let s = sql.prefix
        let inserted = try await connection.query(
            PostgresQuery(
                unsafeSQL: "INSERT INTO \(s)batches (id, created_at, total) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id",
                binds: binds {
                    $0.append(PostgresCoding.uuid(batch.id.raw)); $0.append(PostgresCoding.micros(batch.createdAt))
                    $0.append(Int64(total))
                }))
        guard !inserted.isEmpty else {
            throw SpoolError(code: .unprocessable, message: "batch: a batch with id \(batch.id) already exists")
        }
        let events = batch.callbacks.events
        guard !events.isEmpty else { return }
        var metadata: [String?] = []
        var payloads: [[UInt8]] = []
        for (event, job) in events {
            var fields = job.metadata
            fields[BatchCallbacks.batchKey] = batch.id.description
            fields[BatchCallbacks.eventKey] = event.rawValue
            metadata.append(try PostgresCoding.encodeMetadata(fields))
            payloads.append(try job.payload.encoded())
        }
        let jobs = events.map(\.job)
        _ = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(s)batch_callbacks (batch_id, event, id, queue, kind, payload, priority, max_attempts, run_at, created_at,
                        timeout_us, metadata)
                    SELECT $1, event, id, queue, kind, payload, priority, max_attempts, run_at, created_at,
                        CASE WHEN has_timeout THEN timeout_us END, CASE WHEN has_metadata THEN metadata::jsonb END
                    FROM unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::int8[], $8::int4[], $9::int8[],
                                $10::int8[], $11::int8[], $12::bool[], $13::text[], $14::bool[])
                        AS c(event, id, queue, kind, payload, priority, max_attempts, run_at, created_at, timeout_us, has_timeout,
                             metadata, has_metadata)
                    """,
                binds: binds {
                    $0.append(PostgresCoding.uuid(batch.id.raw))
                    $0.append(PostgresArray(.texts(events.map(\.event.rawValue))))
                    $0.append(PostgresArray(.uuids(jobs.map { PostgresCoding.uuid($0.id) })))
                    $0.append(PostgresArray(.texts(jobs.map(\.queue))))
                    $0.append(PostgresArray(.texts(jobs.map(\.kind))))
                    $0.append(PostgresArray(.bytes(payloads)))
                    $0.append(PostgresArray(.int8s(jobs.map { Int64($0.priority) })))
                    $0.append(PostgresArray(.int4s(jobs.map { Int32(clamping: $0.maxAttempts) })))
                    $0.append(PostgresArray(.int8s(jobs.map { PostgresCoding.micros($0.runAt) })))
                    $0.append(PostgresArray(.int8s(jobs.map { PostgresCoding.micros($0.createdAt) })))
                    $0.append(PostgresArray(.int8s(jobs.map { $0.timeout.map(PostgresCoding.micros) ?? 0 })))
                    $0.append(PostgresArray(.bools(jobs.map { $0.timeout != nil })))
                    $0.append(PostgresArray(.texts(metadata.map { $0 ?? "" })))
                    $0.append(PostgresArray(.bools(metadata.map { $0 != nil })))
                }))
    }

    /// Locks the batches that jobs of the call join (other than `created`), checks that each
    /// still runs, and counts the stored jobs into them.
    private func joinBatches(_ plan: WorkflowInsert, created: BatchID?, on connection: CheckedConnection) async throws {
        let joined = plan.members.filter { $0.key != created }
        guard !joined.isEmpty else { return }
        let s = sql.prefix
        let ids = joined.keys.sorted()
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT id, total, succeeded, dead, cancelled, cancelled_at FROM \(s)batches WHERE id = ANY($1::uuid[])
                    ORDER BY id FOR UPDATE
                    """, binds: binds { $0.append(PostgresArray(.uuids(ids.map { PostgresCoding.uuid($0.raw) }))) }))
        var states: [BatchID: BatchState] = [:]
        for row in rows {
            let (uuid, total, succeeded, dead, cancelled, cancelledAt) = try row.decode((UUID, Int64, Int64, Int64, Int64, Int64?).self)
            states[BatchID(PostgresCoding.id(uuid))] = BatchState(
                total: StoredValue.count(total), succeeded: StoredValue.count(succeeded), dead: StoredValue.count(dead),
                cancelled: StoredValue.count(cancelled), cancelledAt: cancelledAt.map { PostgresCoding.date(micros: $0) })
        }
        for id in ids {
            let job = plan.firstMember(of: id)
            guard let state = states[id] else {
                throw SpoolError(code: .unprocessable, message: "batch: no batch has id \(id)", job: job)
            }
            guard state == .running else {
                throw SpoolError(
                    code: .unprocessable, message: "batch: batch \(id) is \(state.rawValue): jobs can be added only while it runs", job: job
                )
            }
        }
        _ = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE \(s)batches b SET total = b.total + j.n FROM unnest($1::uuid[], $2::int8[]) AS j(id, n) WHERE b.id = j.id
                    """,
                binds: binds {
                    $0.append(PostgresArray(.uuids(ids.map { PostgresCoding.uuid($0.raw) })))
                    $0.append(PostgresArray(.int8s(ids.map { Int64(joined[$0] ?? 0) })))
                }))
    }

    private static func insertWorkflowSQL(_ s: String) -> String {
        """
        INSERT INTO \(s)jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, timeout_us, metadata,
            batch_id, waiting_on, on_dependency_failure, has_dependents, finished_at, errors)
        SELECT id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
            CASE WHEN has_key THEN unique_key END, CASE WHEN has_timeout THEN timeout_us END,
            CASE WHEN has_metadata THEN metadata::jsonb END, CASE WHEN has_batch THEN batch_id END,
            CASE WHEN waiting_on >= 0 THEN waiting_on::int4 END, NULLIF(on_failure, ''), has_dependents,
            CASE WHEN finished_at >= 0 THEN finished_at END, COALESCE(NULLIF(errors, '')::jsonb, '[]'::jsonb)
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $6::text[], $7::int8[], $8::int8[], $9::int8[],
                    $10::text[], $11::bool[], $12::int8[], $13::bool[], $14::text[], $15::bool[], $16::uuid[], $17::bool[],
                    $18::int8[], $19::text[], $20::bool[], $21::int8[], $22::text[])
            AS t(id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, has_key, timeout_us, has_timeout,
                 metadata, has_metadata, batch_id, has_batch, waiting_on, on_failure, has_dependents, finished_at, errors)
        """
    }
}
