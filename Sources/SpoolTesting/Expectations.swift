import Foundation
import Spool
import Synchronization

/// A test waited for something that did not happen in time.
public struct ExpectationTimeout: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public var description: String { "timed out after \(timeout) waiting for \(what)" }
}

/// A check in a conformance case failed.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    public let file: String
    public let line: Int
    public var description: String { "\(file):\(line): \(message)" }
}

/// Throws a ``ConformanceFailure`` with `message` unless `condition` holds.
public func check(
    _ condition: Bool, _ message: @autoclosure () -> String,
    file: String = #fileID, line: Int = #line
) throws {
    guard condition else { throw ConformanceFailure(message: message(), file: file, line: line) }
}

/// Event-based waiting for tests.
public enum Expectation {
    /// Calls `condition` until it returns true. `condition` should itself wait for an event (it
    /// is called again at once); gives up with ``ExpectationTimeout`` after `timeout`.
    public static func eventually(
        timeout: Duration = .seconds(30), _ what: String, _ condition: @escaping @Sendable () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                while try await !condition() {
                    try Task.checkCancellation()
                }
                return true
            }
            group.addTask {
                // The deadline itself: the one real-time sleep of an expectation.
                try await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let met = try await group.next() ?? false
            group.cancelAll()
            if !met { throw ExpectationTimeout(what: what, timeout: timeout) }
        }
    }

    /// Checks `condition` every `interval` until it returns true; gives up with
    /// ``ExpectationTimeout`` after `timeout`.
    ///
    /// Only for state that signals no event this process can wait on: another process's output
    /// or files, a server's bookkeeping, a store read by a driver that does not push changes.
    /// Anything the code under test can signal (a handler, a ``ManualClock`` sleeper, a
    /// ``WakeSignal``, a finish) is waited on with ``eventually(timeout:_:_:)`` instead.
    public static func poll(
        every interval: Duration = .milliseconds(20), timeout: Duration = .seconds(30), _ what: String,
        _ condition: @escaping @Sendable () async throws -> Bool
    ) async throws {
        try await eventually(timeout: timeout, what) {
            if try await condition() { return true }
            try await Task.sleep(for: interval)
            return false
        }
    }
}

/// Collects events from handlers and lets a test wait until enough have arrived.
///
/// ```swift
/// let runs = EventRecorder<JobID>()
/// registry.register(Ping.self) { _, context in runs.record(context.id) }
/// let ids = try await runs.waitForCount(3)
/// ```
public final class EventRecorder<Event: Sendable>: Sendable {
    private let events = Mutex<[Event]>([])
    private let signal = WakeSignal()

    public init() {}

    /// Adds an event and wakes waiters.
    public func record(_ event: Event) {
        events.withLock { $0.append(event) }
        signal.signal()
    }

    /// Every event so far, in order.
    public var all: [Event] { events.withLock { $0 } }

    public var count: Int { events.withLock { $0.count } }

    /// Waits until at least `count` events arrived; returns all of them.
    @discardableResult
    public func waitForCount(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [Event] {
        try await Expectation.eventually(timeout: timeout, "\(count) events") {
            let ticket = self.signal.ticket()
            if self.count >= count { return true }
            await self.signal.wait(ticket)
            return false
        }
        return all
    }

    /// Waits until `predicate` holds for the events; returns them.
    @discardableResult
    public func waitUntil(
        timeout: Duration = .seconds(30), _ what: String, _ predicate: @escaping @Sendable ([Event]) -> Bool
    ) async throws -> [Event] {
        try await Expectation.eventually(timeout: timeout, what) {
            let ticket = self.signal.ticket()
            if predicate(self.all) { return true }
            await self.signal.wait(ticket)
            return false
        }
        return all
    }
}
