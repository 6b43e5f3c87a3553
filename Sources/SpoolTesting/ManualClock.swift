import Foundation
import Spool
import Synchronization

/// A clock that moves only when a test moves it: sleepers wake when ``advance(by:)`` passes
/// their deadline. Tests wait for sleepers with ``waitForSleepers(atLeast:)`` rather than sleep.
public final class ManualClock: JobClock {
    private struct Sleeper {
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextToken: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state: Mutex<State>
    private let sleepersChanged = WakeSignal()

    /// A clock reading `start` (default: 2030-01-01T00:00:00Z, a round, future date).
    public init(start: Date = Date(timeIntervalSince1970: 1_893_456_000)) {
        state = Mutex(State(now: start))
    }

    public var now: Date { state.withLock { $0.now } }

    /// The number of tasks sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Date) async throws {
        let token: UInt64 = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(token) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[token] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let result {
                    continuation.resume(with: result)
                } else {
                    sleepersChanged.signal()
                }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                if let sleeper = state.sleepers.removeValue(forKey: token) { return sleeper }
                state.cancelled.insert(token)
                return nil
            }
            if let sleeper {
                sleeper.continuation.resume(throwing: CancellationError())
                sleepersChanged.signal()
            }
        }
    }

    /// Moves the clock forward and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by duration: Duration) {
        advance(to: now.adding(duration))
    }

    /// Sets the clock to `date` (never backwards) and wakes the sleepers that are due.
    public func advance(to date: Date) {
        let due: [Sleeper] = state.withLock { state in
            state.now = max(state.now, date)
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }
            for token in ready.keys { state.sleepers[token] = nil }
            return ready.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
        if !due.isEmpty { sleepersChanged.signal() }
    }

    /// Suspends until at least `count` tasks sleep on this clock (so an advance will reach them).
    /// - Throws: ``ExpectationTimeout`` if it does not happen within `timeout` of real time.
    public func waitForSleepers(atLeast count: Int, timeout: Duration = .seconds(30)) async throws {
        try await Expectation.eventually(timeout: timeout, "\(count) sleepers on the manual clock") {
            let ticket = self.sleepersChanged.ticket()
            if self.sleeperCount >= count { return true }
            await self.sleepersChanged.wait(ticket, until: Date().addingTimeInterval(0.05), clock: SystemClock())
            return false
        }
    }
}
