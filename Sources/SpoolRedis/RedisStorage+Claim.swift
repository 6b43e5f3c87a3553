// RedisStorage: claim, in one script.

import Foundation
import Spool

extension RedisStorage {
    // MARK: Claim

    /// The most jobs one claim hands out.
    static let claimLimit = 10_000

    /// Claims due jobs in one script: for each demand of a queue that is not paused, it first
    /// makes the queue's due scheduled jobs available (at most 1000 per call), then takes its
    /// available jobs by priority (highest first), run-at, then id, within the demand's and the
    /// request's limits, and moves them to `running` with a lease owned by `request.worker`
    /// until `now + request.lease`. Two claims never return the same job. At most
    /// 10,000 jobs per call (a larger request gets that many).
    /// Cost: O(log n) per job claimed or promoted.
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let total = min(request.limit, Self.claimLimit)
        guard total > 0 else { return [] }
        let demands = request.demands.filter { $0.limit > 0 }
        guard !demands.isEmpty else { return [] }
        var arguments: [[UInt8]] = [
            RedisCoding.arg(now), RedisCoding.arg(RedisCoding.adding(RedisCoding.millis(now), RedisCoding.millis(request.lease))),
            RedisCoding.arg(request.worker), RedisCoding.arg(total), RedisCoding.arg(demands.count),
        ]
        for demand in demands { arguments += [RedisCoding.arg(demand.queue), RedisCoding.arg(min(demand.limit, total))] }
        // Taken before the claim runs: a job it cannot see arrives later and signals later.
        let ticket = workSignal.ticket()
        let reply = try await perform(.claim, arguments, "claim for worker '\(request.worker)'")
        let claim = try RedisCoding.claimed(reply)
        // For the wait that may follow (see `waitForWork`).
        let exhaustive = claim.exhaustive && claim.jobs.count < total
        exhaustiveClaims.record(demands.map(\.queue), exhaustive ? ExhaustiveClaim(ticket: ticket, nextDue: claim.nextDue) : nil)
        return claim.jobs
    }
}
