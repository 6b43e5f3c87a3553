import AsyncHTTPClient
import Foundation
import NIOCore
import Spool
import SpoolVapor
import Synchronization
import Testing
import Vapor

/// A test gave up waiting for something.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    let after: Duration
    var description: String { "timed out after \(after) waiting for \(what)" }
}

/// Runs `body` against a real Vapor application serving HTTP on 127.0.0.1 and a free port,
/// started as `App serve` starts (boot, lifecycle handlers, the serve command); shuts it down
/// afterwards unless `body` already did.
func withRunningApp(
    _ configure: (Application) async throws -> Void, _ body: (Application, _ port: Int) async throws -> Void
) async throws {
    let environment = Environment(name: "testing", arguments: ["vapor", "serve", "--hostname", "127.0.0.1", "--port", "0"])
    let app = try await Application.make(environment)
    do {
        try await configure(app)
        try await app.startup()
        let port = try #require(app.http.server.shared.localAddress?.port, "the server reports its port")
        try await body(app, port)
    } catch {
        if !app.didShutdown { try? await app.asyncShutdown() }
        throw error
    }
    if !app.didShutdown { try await app.asyncShutdown() }
}

/// An HTTP answer, read whole.
struct Reply {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var text: String

    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }
}

/// Sends one request to the app at `port` over real HTTP (async-http-client).
func send(
    _ method: HTTPMethod, _ path: String, port: Int, json: String? = nil, headers: [(String, String)] = []
) async throws -> Reply {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let json {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 4 << 20)
    return Reply(status: response.status, headers: response.headers, text: String(buffer: body))
}

/// Things that happened (in a job handler, say), to wait for without sleeping.
final class Events<Element: Sendable>: Sendable {
    private struct Waiter {
        let matches: @Sendable (Element) -> Bool
        let continuation: CheckedContinuation<Element, any Error>
    }

    private struct State {
        var recorded: [Element] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    /// Everything recorded so far, in order.
    var all: [Element] { state.withLock { $0.recorded } }

    /// Records `element` and wakes the waiters it matches.
    func record(_ element: Element) {
        let woken = state.withLock { state in
            state.recorded.append(element)
            let matching = state.waiters.filter { $0.value.matches(element) }
            for id in matching.keys { state.waiters[id] = nil }
            return matching.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: element) }
    }

    /// The first element recorded (before or after the call) that `matches`; throws
    /// ``TimedOut`` after `timeout`.
    func first(
        _ what: String, timeout: Duration = .seconds(30), where matches: @escaping @Sendable (Element) -> Bool = { _ in true }
    ) async throws -> Element {
        try await withThrowingTaskGroup(of: Element.self) { group in
            group.addTask { try await self.wait(matches) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut(what: what, after: timeout)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func wait(_ matches: @escaping @Sendable (Element) -> Bool) async throws -> Element {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element, any Error>) in
                let now: Result<Element, any Error>? = state.withLock { state in
                    if let found = state.recorded.first(where: matches) { return .success(found) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = Waiter(matches: matches, continuation: continuation)
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// Waits for `operation` to return within `timeout`, or throws ``TimedOut``.
func within<T: Sendable>(_ timeout: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut(what: what, after: timeout)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Reads `value` every 20 ms until `done` holds, for at most `timeout` (state another process
/// changes, which sends no event here).
func poll<T: Sendable>(
    _ what: String, timeout: Duration = .seconds(30), _ value: () async throws -> T, until done: (T) -> Bool
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        let current = try await value()
        if done(current) { return current }
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what, after: timeout) }
        try await Task.sleep(for: .milliseconds(20))
    }
}
