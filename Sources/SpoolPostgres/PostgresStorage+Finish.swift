// PostgresStorage: how runs end (outcomes), heartbeats, and the rescue of expired leases.

import Foundation
import PostgresNIO
import Spool
import Synchronization

extension PostgresStorage {
    // MARK: Finish, heartbeat, rescue

    /// Records how runs ended, in one statement over arrays (UNNEST). Each outcome is written
    /// only if the job is `running` with its lease held by `worker`; the others (rescued,
    /// cancelled, deleted, or claimed by another worker since) are returned and nothing is
    /// written for them.
    ///
    /// Snooze and hand-back give the attempt back; every outcome clears the lease and resets
    /// the count of expired leases; failures append to the error history (newest
    /// ``JobAttemptError/historyLimit`` kept). A hand-back notifies other processes.
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport {
        guard !completions.isEmpty else { return LeaseReport() }
        let batch = try FinishBatch(completions)
        let operation = "finish of \(completions.count) job(s) by worker '\(worker)'"
        if batch.succeededOnly {
            let row = try await committedCells(
                HotSQL.FinishSucceeded.self, batch.succeededBindings(worker: worker, channel: channel), operation
            ).first
            let (queues, lost, workflow) =
                try row.map { (try $0[0].decode([String].self), try $0[1].decode([UUID].self), try $0[2].decode(Bool.self)) }
                ?? ([], batch.ids, false)
            // A job with dependents (or of a batch) may have released work: this process's
            // workers look at once, ahead of the notification.
            if workflow || !limitedQueues.withLock({ $0.isDisjoint(with: queues) }) { workSignal.signal() }
            let lostIDs = lost.map(PostgresCoding.id)
            finishWatch.notify(lostIDs.isEmpty ? completions.map(\.id) : completions.map(\.id).filter { !lostIDs.contains($0) })
            return LeaseReport(lost: lostIDs)
        }
        let rows = try await committedCells(HotSQL.Finish.self, batch.bindings(worker: worker, channel: channel), operation)
        var written = Set<JobID>(minimumCapacity: rows.count)
        var finished: [JobID] = []
        var madeAvailable: [String] = []
        var queues = Set<String>()
        var workflow = false
        for row in rows {
            let (uuid, state, queue, moved) = (
                try row[0].decode(UUID.self), try row[1].decode(String.self), try row[2].decode(String.self), try row[3].decode(Bool.self)
            )
            let id = PostgresCoding.id(uuid)
            workflow = workflow || moved
            written.insert(id)
            queues.insert(queue)
            if state == JobState.available.rawValue { madeAvailable.append(queue) }
            if JobState(rawValue: state)?.isFinished == true { finished.append(id) }
        }
        finishWatch.notify(finished)
        if !madeAvailable.isEmpty {
            await announceWork(madeAvailable)
        } else if workflow || batch.reschedules || !limitedQueues.withLock({ $0.isDisjoint(with: queues) }) {
            workSignal.signal()
        }
        return LeaseReport(lost: completions.map(\.id).filter { !written.contains($0) })
    }

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// statement.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport {
        guard !beats.isEmpty else { return LeaseReport() }
        var progress: [String] = []
        var hasProgress: [Bool] = []
        for beat in beats {
            let encoded = try PostgresCoding.encodeProgress(beat.progress)
            progress.append(encoded ?? "")
            hasProgress.append(encoded != nil)
        }
        let bindings = binds {
            $0.append(PostgresCoding.micros(now) + PostgresCoding.micros(lease))
            $0.append(PostgresArray(.uuids(beats.map { PostgresCoding.uuid($0.id) })))
            $0.append(PostgresArray(.texts(progress)))
            $0.append(PostgresArray(.bools(hasProgress)))
            $0.append(worker)
        }
        let rows = try await rows(HotSQL.Heartbeat.self, bindings, "heartbeat of \(beats.count) job(s) by worker '\(worker)'")
        let held = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        return LeaseReport(lost: beats.map(\.id).filter { !held.contains($0) })
    }

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt (the crashed run counted) and recording a `lease_expired` error; a job whose
    /// lease has now expired more than `poisonAfter` times in a row goes to `dead` with a
    /// `poison` error instead. One statement; reads only the expired leases (an index orders
    /// running jobs by lease expiry); rows locked by a concurrent finish are left for the next
    /// rescue. Safe to run from several processes at once.
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let rows = try await committedRows(
            sql.rescue,
            binds {
                $0.append(PostgresCoding.micros(now))
                $0.append(Int64(poisonAfter))
            }, "rescue of expired leases")
        var rescued: [(JobID, String)] = []
        var poisoned: [JobID] = []
        for row in rows {
            let (uuid, state, queue) = try row.decode((UUID, String, String).self)
            let id = PostgresCoding.id(uuid)
            if state == JobState.dead.rawValue { poisoned.append(id) } else { rescued.append((id, queue)) }
        }
        rescued.sort { $0.0 < $1.0 }
        poisoned.sort()
        if !rescued.isEmpty { await announceWork(rescued.map(\.1)) }
        return RescueReport(rescued: rescued.map(\.0), poisoned: poisoned)
    }
}
