import Synchronization

/// Whether a networked store's `run()` has connected (and checked its schema), for drivers
/// whose operations must wait for that: operations call ``wait(timeout:target:)`` first.
///
/// States: starting (with the last connection error, if any) → ready, or → failed (a start
/// that cannot succeed, e.g. a newer schema or a refused login); stopped once `run()` returns.
/// Cost once ready: one atomic load per ``wait(timeout:target:)``.
package final class StorageReadiness: Sendable {
    private enum State {
        case starting(lastError: (any Error)?)
        case ready
        case failed(any Error)
        case stopped
    }

    /// How messages name the store: "PostgreSQL job store", "Redis job store".
    private let store: String
    private let state = Mutex<State>(.starting(lastError: nil))
    private let isReady = Atomic<Bool>(false)
    private let signal = WakeSignal()

    package init(store: String) {
        self.store = store
    }

    /// The store is usable: waiters return.
    package func open() {
        state.withLock { $0 = .ready }
        isReady.store(true, ordering: .releasing)
        signal.signal()
    }

    /// The start failed for good: waiters throw `error`.
    package func fail(_ error: any Error) {
        state.withLock { $0 = .failed(error) }
        signal.signal()
    }

    /// A start attempt failed and will be retried: waiters that time out say why.
    package func noteFailure(_ error: any Error) {
        state.withLock { state in
            if case .starting = state { state = .starting(lastError: error) }
        }
    }

    /// `run()` has returned: waiters throw.
    package func stop() {
        isReady.store(false, ordering: .releasing)
        state.withLock { $0 = .stopped }
        signal.signal()
    }

    /// Returns once the store is ready.
    /// - Throws: the start's failure; ``SpoolError`` `storageUnavailable` when stopped or not
    ///   ready within `timeout` (naming `target` and the last connection error);
    ///   `CancellationError`.
    package func wait(timeout: Duration, target: String) async throws {
        if isReady.load(ordering: .acquiring) { return }
        let clock = SystemClock()
        let deadline = clock.now.adding(timeout)
        while true {
            let ticket = signal.ticket()
            let current: Result<Bool, any Error> = state.withLock { state in
                switch state {
                case .ready: return .success(true)
                case .failed(let error): return .failure(error)
                case .stopped:
                    return .failure(
                        SpoolError(code: .storageUnavailable, message: "\(store) \(target) is stopped (its run() has returned)"))
                case .starting(let lastError):
                    if clock.now >= deadline {
                        let why =
                            lastError.map { ": \($0)" }
                            ?? ": no connection was made yet (is the server reachable, and is the storage's run() running?)"
                        return .failure(
                            SpoolError(code: .storageUnavailable, message: "\(store) \(target) is not ready after \(timeout)\(why)"))
                    }
                    return .success(false)
                }
            }
            switch current {
            case .success(true): return
            case .failure(let error): throw error
            case .success(false):
                try Task.checkCancellation()
                await signal.wait(ticket, until: deadline, clock: clock)
            }
        }
    }
}
