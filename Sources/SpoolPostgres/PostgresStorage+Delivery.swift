// PostgresStorage: handing an enqueued job to a worker of this process that waits for work.

import Foundation
import PostgresNIO
import Spool

extension PostgresStorage: ClaimDelivering {
    /// Enqueues one due job without a unique key for a worker of this process that waits in
    /// its queue, in one round trip that commits: the job is stored running under the worker's
    /// lease when its queue is not paused, has no limits and holds no due job (what a claim
    /// right after the insert would return), and delivered to the worker; otherwise it is
    /// stored as usual, its queue notified, and the worker woken to claim. Nil (nothing done)
    /// for any other enqueue, or when no worker waits there.
    func handOff(_ jobs: [NewJob], _ insert: InsertBatch, _ bodies: InsertBatch.Bodies, now: Date) async throws -> [EnqueueResult]? {
        guard jobs.count == 1, !insert.hasUniqueKeys, hasRoutines, insert.states.first == .available,
            let queue = insert.queues.first, let waiter = claimWaiters.take(for: [queue: 1]).first
        else { return nil }
        var delivered: [ClaimedJob] = []
        // Delivered whatever happens: the jobs on success, nothing on a failure.
        defer { claimWaiters.deliver(delivered, to: waiter.id) }
        let nowMicros = PostgresCoding.micros(now)
        var bindings = insert.bindings(bodies, channel: channel, keys: false)
        bindings.append(configuration.notifications)
        bindings.append(nowMicros)
        bindings.append(waiter.request.worker)
        bindings.append(PostgresCoding.expiry(from: nowMicros, lease: waiter.request.lease))
        // Taken before the statement reads the queue: see `ExhaustiveClaims.renew(_:for:since:on:)`.
        let ticket = workSignal.ticket()
        let state: JobState
        do {
            let cells = try await called(HotSQL.HandOffEnqueue.self, bindings)
            guard let cell = cells.first?.first else {
                throw SpoolError(code: .storageUnavailable, message: "the enqueue for a waiting worker returned no state")
            }
            state = try PostgresCoding.state(try cell.decode(String.self))
        } catch {
            throw insert.mapError(error, target: target)
        }
        if state == .running {
            let job = insert.jobs[0]
            delivered = [
                ClaimedJob(
                    id: insert.ids[0], queue: queue, kind: insert.kinds[0], payload: JobPayload(bytes: bodies.payloads[0]),
                    priority: Int(insert.priorities[0]), attempt: 1, maxAttempts: Int(insert.maxAttempts[0]),
                    createdAt: PostgresCoding.date(micros: insert.createdAts[0]), runAt: PostgresCoding.date(micros: insert.runAts[0]),
                    timeout: insert.timeouts[0].map { PostgresCoding.duration(micros: $0) }, metadata: job.metadata)
            ]
        }
        workSignal.signal()
        if state == .running { exhaustiveClaims.renew(queue, for: waiter.request, since: ticket, on: workSignal) }
        return [EnqueueResult(id: insert.ids[0], state: state, existing: false)]
    }
}
