import Foundation
import NIOCore
import PostgresNIO
import Spool

/// A finish batch as column arrays.
struct FinishBatch: Sendable {
    var ids: [UUID] = []
    var states: [String] = []
    var deltas: [Int32] = []
    var runAts: [Int64] = []
    var setRunAt: [Bool] = []
    var finished: [Bool] = []
    var ats: [Int64] = []
    var results: [[UInt8]] = []
    var hasResult: [Bool] = []
    var errors: [String] = []
    var hasError: [Bool] = []
    var ownAttempt: [Bool] = []
    /// True when some outcome sets a new run-at (retry or snooze).
    var reschedules = false
    /// True when every outcome is a success (``PostgresStatements/finishSucceeded`` stores them).
    var succeededOnly = true

    init(_ completions: [JobCompletion]) throws {
        for completion in completions {
            let next = try JobStateMachine.transition(.running, on: completion.event, job: completion.id)
            let at = PostgresCoding.micros(completion.at)
            var delta: Int32 = 0
            var runAt: Int64?
            var result: [UInt8]?
            var error: JobAttemptError?
            var own = false
            switch completion.outcome {
            case .succeeded(let value):
                result = value
            case .retry(let retryAt, let failure):
                runAt = PostgresCoding.micros(retryAt)
                error = failure
            case .snooze(let until):
                delta = -1
                runAt = PostgresCoding.micros(until)
            case .dead(let failure):
                error = failure
            case .cancelled(let reason):
                error = JobAttemptError(attempt: 0, at: completion.at, message: reason, reason: "cancelled")
                own = true
            case .handBack:
                delta = -1
            }
            if next != .succeeded { succeededOnly = false }
            ids.append(PostgresCoding.uuid(completion.id))
            states.append(next.rawValue)
            deltas.append(delta)
            runAts.append(runAt ?? 0)
            setRunAt.append(runAt != nil)
            if runAt != nil { reschedules = true }
            finished.append(next.isFinished)
            ats.append(at)
            results.append(result ?? [])
            hasResult.append(result != nil)
            errors.append(try error.map(PostgresCoding.encodeError) ?? "")
            hasError.append(error != nil)
            ownAttempt.append(own)
        }
    }

    /// The bindings of ``PostgresStatements/finishSucceeded`` (for a batch that is
    /// ``succeededOnly``).
    func succeededBindings(worker: String, channel: String) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(PostgresArray(.uuids(ids)))
        bindings.append(PostgresArray(.int8s(ats)))
        bindings.append(PostgresArray(.bytes(results)))
        bindings.append(PostgresArray(.bools(hasResult)))
        bindings.append(worker)
        bindings.append(channel)
        return bindings
    }

    func bindings(worker: String, channel: String) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 13)
        bindings.append(PostgresArray(.uuids(ids)))
        bindings.append(PostgresArray(.texts(states)))
        bindings.append(PostgresArray(.int4s(deltas)))
        bindings.append(PostgresArray(.int8s(runAts)))
        bindings.append(PostgresArray(.bools(setRunAt)))
        bindings.append(PostgresArray(.bools(finished)))
        bindings.append(PostgresArray(.int8s(ats)))
        bindings.append(PostgresArray(.bytes(results)))
        bindings.append(PostgresArray(.bools(hasResult)))
        bindings.append(PostgresArray(.texts(errors)))
        bindings.append(PostgresArray(.bools(hasError)))
        bindings.append(PostgresArray(.bools(ownAttempt)))
        bindings.append(worker)
        bindings.append(channel)
        return bindings
    }
}
