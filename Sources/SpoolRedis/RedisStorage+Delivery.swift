// RedisStorage: handing an enqueued job to a worker of this process that waits for work.

import Foundation
import Spool

extension RedisStorage: ClaimDelivering {
    /// Waits like ``waitForWork(queues:deadline:clock:)`` on the queues of `request`, and
    /// meanwhile lets an enqueue of this process store its job as claimed for `request` (when a
    /// claim right after it would return it) and hand it over with the wake-up.
    package func waitForWork(claiming request: ClaimRequest, deadline: Date, clock: any JobClock) async -> [ClaimedJob] {
        let waiter = claimWaiters.register(request)
        await waitForWork(queues: request.demands.map(\.queue), deadline: deadline, clock: clock)
        return await claimWaiters.withdraw(waiter)
    }

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
        // Taken before the script reads the queue: see `ExhaustiveClaims.renew`.
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
        // The worker's next wait need not ask the server, as after a claim that found nothing:
        // unless something else was signalled since the ticket (then it asks).
        if state == .running, waiter.request.demands.map(\.queue) == [job.queue], workSignal.ticket() == ticket &+ 1 {
            exhaustiveClaims.renew(job.queue, ticket: ticket &+ 1)
        }
        return [EnqueueResult(id: job.id, state: state, existing: false)]
    }
}
