import Foundation
import Synchronization

/// How the writer connection waits for SQLite's write lock while another connection or process
/// holds it: it retries every 0.1–1 ms (with jitter) until `timeout` has passed since the first
/// try, then gives up (SQLite answers `SQLITE_BUSY`, reported as `storageUnavailable`).
///
/// SQLite's own busy timeout sleeps up to 100 ms between tries, so a process that writes
/// continuously (a busy worker claiming and finishing) can hold the lock through every retry of
/// another process and starve it for seconds. Short, jittered retries let the waiter into the
/// gaps between the holder's transactions. Cost while waiting: a few system calls per retry on
/// GRDB's writer thread (never a cooperative thread).
final class BusyWait: Sendable {
    private let timeout: Duration
    /// When the current wait began (`numberOfTries == 0`). Only the writer connection of one
    /// pool calls `retry`, one call at a time; the lock makes that safe to rely on regardless.
    private let started = Mutex<ContinuousClock.Instant?>(nil)

    init(timeout: Duration) {
        self.timeout = timeout
    }

    /// The busy callback: true to try again, false to give up.
    @Sendable
    func retry(_ numberOfTries: Int) -> Bool {
        let now = ContinuousClock.now
        let start: ContinuousClock.Instant = started.withLock { started in
            if numberOfTries == 0 || started == nil { started = now }
            return started!
        }
        if now - start >= timeout { return false }
        usleep(numberOfTries < 10 ? 100 : UInt32.random(in: 200...1000))
        return true
    }
}
