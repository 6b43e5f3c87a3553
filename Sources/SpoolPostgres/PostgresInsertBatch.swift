import Foundation
import NIOCore
import PostgresNIO
import Spool

/// An enqueue batch as column arrays, validated before any I/O. The payloads and metadata,
/// the costly columns, are encoded apart: by ``bodies()`` for an INSERT (before any I/O too),
/// or line by line while a COPY sends them (``CopyRows``).
struct InsertBatch: Sendable {
    /// The jobs, for their payloads and metadata.
    let jobs: [NewJob]
    let ids: [JobID]
    let uuids: [UUID]
    let queues: [String]
    let kinds: [String]
    let priorities: [Int64]
    let states: [JobState]
    let maxAttempts: [Int64]
    let runAts: [Int64]
    let createdAts: [Int64]
    let uniqueKeys: [String?]
    let timeouts: [Int64?]

    /// The encoded payloads and metadata of a batch, in its order.
    struct Bodies: Sendable {
        var payloads: [[UInt8]] = []
        var metadata: [String?] = []
    }

    var count: Int { ids.count }
    var hasUniqueKeys: Bool { uniqueKeys.contains { $0 != nil } }
    var keys: [String] { uniqueKeys.compactMap { $0 } }

    /// - Throws: ``SpoolError`` `invalidArgument` for the first invalid job.
    init(_ jobs: [NewJob], now: Date) throws {
        let nowMicros = PostgresCoding.micros(now)
        var ids: [JobID] = [], queues: [String] = [], kinds: [String] = []
        var priorities: [Int64] = [], states: [JobState] = [], maxAttempts: [Int64] = [], runAts: [Int64] = []
        var createdAts: [Int64] = [], uniqueKeys: [String?] = [], timeouts: [Int64?] = []
        for job in jobs {
            let job = try job.validated()
            let runAt = PostgresCoding.micros(job.runAt)
            ids.append(job.id)
            queues.append(job.queue)
            kinds.append(job.kind)
            priorities.append(Int64(job.priority))
            states.append(runAt > nowMicros ? .scheduled : .available)
            maxAttempts.append(Int64(job.maxAttempts))
            runAts.append(runAt)
            createdAts.append(PostgresCoding.micros(job.createdAt))
            uniqueKeys.append(job.uniqueKey)
            timeouts.append(job.timeout.map(PostgresCoding.micros))
        }
        self.jobs = jobs
        self.ids = ids
        self.uuids = ids.map(PostgresCoding.uuid)
        self.queues = queues
        self.kinds = kinds
        self.priorities = priorities
        self.states = states
        self.maxAttempts = maxAttempts
        self.runAts = runAts
        self.createdAts = createdAts
        self.uniqueKeys = uniqueKeys
        self.timeouts = timeouts
    }

    /// The payload and metadata of the job at `index`, as stored.
    /// - Throws: ``SpoolError`` `unencodablePayload` (or the metadata's encoding error).
    func body(_ index: Int) throws -> (payload: [UInt8], metadata: String?) {
        let job = jobs[index]
        return (try job.payload.encoded(), try PostgresCoding.encodeMetadata(job.metadata))
    }

    /// Every job's payload and metadata, encoded. Throws as ``body(_:)``.
    func bodies() throws -> Bodies {
        var bodies = Bodies()
        bodies.payloads.reserveCapacity(count)
        bodies.metadata.reserveCapacity(count)
        for index in 0..<count {
            let (payload, metadata) = try body(index)
            bodies.payloads.append(payload)
            bodies.metadata.append(metadata)
        }
        return bodies
    }

    /// The enqueue statement's bindings, or with `keys: false` the keyless enqueue's
    /// (``PostgresStatements/enqueueKeyless``: the same columns without the unique-key pair);
    /// `channel` (nil with notifications off) is the notifying text's last.
    func bindings(_ bodies: Bodies, channel: String?, keys: Bool = true) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(PostgresArray(.uuids(uuids)))
        bindings.append(PostgresArray(.texts(queues)))
        bindings.append(PostgresArray(.texts(kinds)))
        bindings.append(PostgresArray(.bytes(bodies.payloads)))
        bindings.append(PostgresArray(.int8s(priorities)))
        bindings.append(PostgresArray(.texts(states.map(\.rawValue))))
        bindings.append(PostgresArray(.int8s(maxAttempts)))
        bindings.append(PostgresArray(.int8s(runAts)))
        bindings.append(PostgresArray(.int8s(createdAts)))
        if keys {
            bindings.append(PostgresArray(.texts(uniqueKeys.map { $0 ?? "" })))
            bindings.append(PostgresArray(.bools(uniqueKeys.map { $0 != nil })))
        }
        bindings.append(PostgresArray(.int8s(timeouts.map { $0 ?? 0 })))
        bindings.append(PostgresArray(.bools(timeouts.map { $0 != nil })))
        bindings.append(PostgresArray(.texts(bodies.metadata.map { $0 ?? "" })))
        bindings.append(PostgresArray(.bools(bodies.metadata.map { $0 != nil })))
        if let channel { bindings.append(channel) }
        return bindings
    }

    /// The results of a keyless batch: every job was stored (the statement fails as a whole
    /// otherwise).
    var storedResults: [EnqueueResult] {
        zip(ids, states).map { EnqueueResult(id: $0, state: $1, existing: false) }
    }

    /// One result per job: stored, or naming the live holder of its unique key.
    func results(inserted: [PostgresRow], holders: [PostgresRow]) throws -> [EnqueueResult] {
        var stored = Set<JobID>(minimumCapacity: inserted.count)
        for row in inserted {
            stored.insert(PostgresCoding.id(try row.makeRandomAccess()[0].decode(UUID.self)))
        }
        var byKey: [String: (JobID, JobState)] = [:]
        for row in holders {
            let (key, uuid, state) = try row.decode((String, UUID, String).self)
            byKey[key] = (PostgresCoding.id(uuid), try PostgresCoding.state(state))
        }
        var results: [EnqueueResult] = []
        results.reserveCapacity(count)
        for index in 0..<count {
            let id = ids[index]
            if stored.contains(id) {
                results.append(EnqueueResult(id: id, state: states[index], existing: false))
                continue
            }
            guard let key = uniqueKeys[index], let holder = byKey[key] else {
                throw SpoolError(
                    code: .storageUnavailable, message: "job \(id) was not stored and no live job holds its unique key", job: id)
            }
            results.append(EnqueueResult(id: holder.0, state: holder.1, existing: true))
        }
        return results
    }

    func mapError(_ error: any Error, target: String) -> any Error {
        if PostgresFailure.sqlState(error) == "23505", PostgresFailure.constraint(error) == "jobs_pkey" {
            let duplicate = duplicateID()
            if let duplicate {
                return SpoolError(code: .invalidArgument, message: "the batch holds job id \(duplicate) twice", job: duplicate)
            }
            return SpoolError(
                code: .invalidArgument, message: "a job with one of the batch's ids already exists (nothing of the batch was stored)",
                job: ids.count == 1 ? ids[0] : nil)
        }
        return SpoolError.postgres(error, target: target, operation: "enqueue of \(count) job(s)")
    }

    private func duplicateID() -> JobID? {
        var seen = Set<JobID>(minimumCapacity: ids.count)
        return ids.first { !seen.insert($0).inserted }
    }
}
