// RedisStorage: handing an enqueued job to a worker of this process that waits for work.

import Foundation
import Spool

extension RedisStorage: ClaimDelivering {
    /// Enqueues one due job without a unique key, batch or dependencies for a worker of this
    /// process that waits in its queue, in one script: the job is stored running under the
    /// worker's lease when its queue is not paused, has no limits and holds no due job (what a
    /// claim right after would return), and delivered to the worker; otherwise it is stored as
    /// usual, the listeners woken, and the worker woken to claim. Nil (nothing done) for any
    /// other enqueue, or when no worker waits there.
    func handOff(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult]? {
        guard jobs.count == 1, let job = try? jobs[0].validated(), job.uniqueKey == nil, !job.usesWorkflows,
            job.runAt <= now, let waiter = claimWaiters.take(for: [job.queue: 1]).first
        else { return nil }
        var delivered: [ClaimedJob] = []
        // Delivered whatever happens: the job on success, nothing on a failure.
        defer { claimWaiters.deliver(delivered, to: waiter.id) }
        let payload = try job.payload.encoded()
        let nowMillis = RedisCoding.millis(now)
        let timeout = job.timeout.map(RedisCoding.nanos)
        let arguments: [[UInt8]] = [
            RedisCoding.arg(now), RedisCoding.arg(RedisCoding.adding(nowMillis, RedisCoding.millis(waiter.request.lease))),
            RedisCoding.arg(waiter.request.worker),
            RedisCoding.arg(job.id), RedisCoding.arg(job.queue), RedisCoding.arg(job.kind), payload, RedisCoding.arg(job.priority),
            RedisCoding.arg(job.maxAttempts), RedisCoding.arg(job.runAt), RedisCoding.arg(job.createdAt),
            timeout.map(RedisCoding.arg) ?? [], try RedisCoding.encodeMetadata(job.metadata),
        ]
        // Taken before the script reads the queue: see `ExhaustiveClaims.renew(_:for:since:on:)`.
        let ticket = workSignal.ticket()
        let reply = try await perform(.handOff, arguments, "enqueue of 1 job(s)")
        guard let state = reply.string.flatMap(JobState.init(rawValue:)), state == .running || state == .available else {
            throw RedisCoding.corrupt("an enqueue reply without a state")
        }
        if state == .running {
            delivered = [
                ClaimedJob(
                    id: job.id, queue: job.queue, kind: job.kind, payload: JobPayload(bytes: payload), priority: job.priority,
                    attempt: 1, maxAttempts: job.maxAttempts, createdAt: RedisCoding.date(millis: RedisCoding.millis(job.createdAt)),
                    runAt: RedisCoding.date(millis: RedisCoding.millis(job.runAt)), timeout: timeout.map { .nanoseconds($0) },
                    metadata: job.metadata)
            ]
        }
        workSignal.signal()
        if state == .running { exhaustiveClaims.renew(job.queue, for: waiter.request, since: ticket, on: workSignal) }
        return [EnqueueResult(id: job.id, state: state, existing: false)]
    }
}
