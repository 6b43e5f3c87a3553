// RedisStorage: how runs end (outcomes), heartbeats, and the rescue of expired leases.

import Foundation
import Spool

extension RedisStorage {
    // MARK: Finish, heartbeat, rescue

    /// Records how runs ended, in one script. Each outcome is written only if the job is
    /// `running` with its lease held by `worker`; the others are returned and nothing is
    /// written for them. Snooze and hand-back give the attempt back; every outcome clears the
    /// lease and resets the count of expired leases; failures append to the error history
    /// (newest ``JobAttemptError/historyLimit`` kept). In the same script, a job of a batch
    /// that ends is counted in its batch (firing its callbacks at their milestones), and the
    /// dependents of a job that ends are released or cancelled.
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport {
        guard !completions.isEmpty else { return LeaseReport() }
        var arguments: [[UInt8]] = [RedisCoding.arg(worker), RedisCoding.arg(completions.count)]
        var reschedules = false
        for completion in completions {
            var outcome = "", runAt: [UInt8] = [], error: [UInt8] = [], hasResult: [UInt8] = [48], result: [UInt8] = []
            switch completion.outcome {
            case .succeeded(let value):
                outcome = "succeeded"
                if let value { hasResult = [49]; result = value }
            case .retry(let at, let failure):
                outcome = "retry"; runAt = RedisCoding.arg(at); error = try RedisCoding.encode(failure); reschedules = true
            case .snooze(let until):
                outcome = "snooze"; runAt = RedisCoding.arg(until); reschedules = true
            case .dead(let failure):
                outcome = "dead"; error = try RedisCoding.encode(failure)
            case .cancelled(let reason):
                outcome = "cancelled"
                error = try RedisCoding.encode(JobAttemptError(attempt: 0, at: completion.at, message: reason, reason: "cancelled"))
            case .handBack:
                outcome = "handback"; reschedules = true
            }
            arguments += [
                RedisCoding.arg(completion.id), RedisCoding.arg(outcome), RedisCoding.arg(completion.at), runAt, error, hasResult, result,
            ]
        }
        let reply = try await perform(.finish, arguments, "finish of \(completions.count) job(s) by worker '\(worker)'")
        // The ids not written, then whether jobs became claimable (released dependents,
        // callbacks) or a batch finished.
        guard var cells = reply.elements, let released = cells.popLast() else {
            throw RedisCoding.corrupt("a finish reply of the wrong shape")
        }
        if reschedules || released.int == 1 { workSignal.signal() }
        return LeaseReport(lost: try ids(.array(cells)))
    }

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// script.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport {
        guard !beats.isEmpty else { return LeaseReport() }
        var arguments: [[UInt8]] = [
            RedisCoding.arg(worker), RedisCoding.arg(RedisCoding.millis(now) + RedisCoding.millis(lease)), RedisCoding.arg(beats.count),
        ]
        for beat in beats {
            let progress = try RedisCoding.encodeProgress(beat.progress)
            arguments += [RedisCoding.arg(beat.id), progress == nil ? [48] : [49], progress ?? []]
        }
        return LeaseReport(
            lost: try ids(try await perform(.heartbeat, arguments, "heartbeat of \(beats.count) job(s) by worker '\(worker)'")))
    }

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt and recording a `lease_expired` error; a job whose lease has now expired more
    /// than `poisonAfter` times in a row goes to `dead` with a `poison` error instead (counted
    /// in its batch, its dependents settled, in the same script). One script per 1000 expired
    /// leases (it loops until none is left, at most 1000 times).
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        var report = RescueReport()
        for _ in 0..<1000 {
            let reply = try await perform(
                .rescue, [RedisCoding.arg(now), RedisCoding.arg(max(0, poisonAfter)), RedisCoding.arg(1000)], "rescue of expired leases")
            guard let parts = reply.elements, parts.count == 2 else { throw RedisCoding.corrupt("a rescue reply of the wrong shape") }
            let rescued = try ids(parts[0])
            let poisoned = try ids(parts[1])
            report.rescued += rescued
            report.poisoned += poisoned
            if rescued.count + poisoned.count < 1000 { break }
        }
        report.rescued.sort()
        report.poisoned.sort()
        if !report.rescued.isEmpty { workSignal.signal() }
        return report
    }

    func ids(_ reply: RESPValue) throws -> [JobID] {
        guard let cells = reply.elements else { throw RedisCoding.corrupt("expected a list of ids, got \(reply)") }
        return try cells.map { cell in
            guard let id = cell.string.flatMap({ JobID($0) }) else { throw RedisCoding.corrupt("expected a job id, got \(cell)") }
            return id
        }
    }
}
