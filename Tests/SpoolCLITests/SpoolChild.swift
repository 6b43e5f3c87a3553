import Subprocess
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `spool` child process of a test, started through swift-subprocess.
///
/// Its standard output and error are collected as they arrive (``output``), ``send(_:)``'s
/// signals reach this process only (never a reused pid), and its exit is an event
/// (swift-subprocess watches a pidfd), never a `waitpid` poll.
///
/// A child belongs to the ``withTemporaryFolder(_:)`` call it is started in: when that call's
/// body returns or throws, every child still running is SIGKILLed and awaited, so a failing
/// test leaves no process behind.
final class SpoolChild: Sendable {
    /// The arguments after `spool`.
    let arguments: [String]
    private let configuration: Subprocess.Configuration
    /// Signals asked for by ``send(_:)``, delivered once the process runs.
    private let signals = AsyncStream<Int32>.makeStream()
    private let exit = ExitWatch()
    private let collected = Mutex<(stdout: [UInt8], stderr: [UInt8])>(([], []))

    /// Starts `spool arguments…` in `folder` with the test process's environment minus
    /// `SPOOL_DATABASE_URL`, plus `environment`.
    ///
    /// The process starts as soon as the enclosing ``withTemporaryFolder(_:)``'s task gets to
    /// it; signals sent before then are delivered once it runs. A process that cannot be started
    /// exits with status 127 and says why on its standard error.
    /// - Throws: when the `spool` executable is missing, or outside ``withTemporaryFolder(_:)``.
    init(_ arguments: [String], in folder: String, environment: [String: String] = [:]) throws {
        let scope = try #require(ChildScope.current, "start a SpoolChild inside withTemporaryFolder, which stops it")
        self.arguments = arguments
        configuration = try Self.configuration(arguments, in: folder, environment: environment)
        scope.start(self)
    }

    /// How to run `spool arguments…` in `folder`: see ``init(_:in:environment:)``.
    static func configuration(_ arguments: [String], in folder: String, environment: [String: String]) throws -> Subprocess.Configuration {
        var overrides: [Subprocess.Environment.Key: String?] = ["SPOOL_DATABASE_URL": nil]
        for (key, value) in environment { overrides[.init(stringLiteral: key)] = value }
        return Subprocess.Configuration(
            executable: .path(.init(try SpoolExecutable.require())), arguments: Arguments(arguments),
            environment: .inherit.updating(overrides), workingDirectory: .init(folder)
        )
    }

    /// True once the child has exited.
    var hasExited: Bool { exit.status != nil }

    /// Sends a signal (SIGKILL, SIGTERM, SIGINT, SIGSTOP…) to the child; nothing once it has exited.
    func send(_ signal: Int32) {
        signals.continuation.yield(signal)
    }

    /// Waits for the child to exit and returns its exit status (the signal number when a signal
    /// ended it); SIGKILLs it and throws ``TimedOut`` after `timeout`.
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await self.exit.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let status { return status }
        send(SIGKILL)
        throw TimedOut(what: "spool \(arguments.joined(separator: " ")) to exit", after: timeout)
    }

    /// What the child wrote so far.
    var output: (stdout: String, stderr: String) {
        collected.withLock { (String(decoding: $0.stdout, as: UTF8.self), String(decoding: $0.stderr, as: UTF8.self)) }
    }

    /// Forgets what the child wrote so far.
    func removeOutput() {
        collected.withLock { $0 = ([], []) }
    }

    /// Runs the process to its end (a task of its ``ChildScope``), collecting its output and
    /// forwarding ``send(_:)``'s signals meanwhile.
    fileprivate func run() async {
        let status: Int32
        do {
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) { execution in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await signal in self.signals.stream { try? execution.send(signal: Signal(rawValue: signal)) }
                    }
                    // Both streams end when the process is gone (swift-subprocess ends them when
                    // it exits, even if something else holds the pipes open).
                    await withTaskGroup(of: Void.self) { readers in
                        readers.addTask { await self.collect(execution.standardOutput, error: false) }
                        readers.addTask { await self.collect(execution.standardError, error: true) }
                    }
                    group.cancelAll()
                }
            }
            status = result.terminationStatus.code
        } catch {
            collected.withLock { $0.stderr += Array("cannot run spool \(arguments.joined(separator: " ")): \(error)\n".utf8) }
            status = 127
        }
        exit.finish(status)
    }

    private func collect(_ stream: SubprocessOutputSequence, error: Bool) async {
        do {
            for try await buffer in stream {
                buffer.withUnsafeBytes { bytes in
                    collected.withLock { error ? $0.stderr.append(contentsOf: bytes) : $0.stdout.append(contentsOf: bytes) }
                }
            }
        } catch {
            // A read error ends the collection; the exit status still comes from the process.
        }
    }
}

/// The children started inside one ``withTemporaryFolder(_:)``: each runs as a task of a group
/// that the call awaits, so none outlives it.
final class ChildScope: Sendable {
    /// The scope that ``SpoolChild/init(_:in:environment:)`` starts its process in.
    @TaskLocal static var current: ChildScope?

    private let launches = AsyncStream<SpoolChild>.makeStream()
    private let children = Mutex<[SpoolChild]>([])

    private init() {}

    fileprivate func start(_ child: SpoolChild) {
        children.withLock { $0.append(child) }
        launches.continuation.yield(child)
    }

    /// Runs `body` with a new scope as ``current``; once it returns or throws, SIGKILLs every
    /// child still running and waits until all have exited.
    static func run<T>(_ body: () async throws -> T) async throws -> T {
        let scope = ChildScope()
        let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { running in
                    for await child in scope.launches.stream {
                        running.addTask { await child.run() }
                    }
                }
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await $current.withValue(scope) { try await body() })
            } catch {
                result = .failure(error)
            }
            scope.launches.continuation.finish()
            for child in scope.children.withLock({ $0 }) where !child.hasExited { child.send(SIGKILL) }
            await group.waitForAll()
            return result
        }
        return try result.get()
    }
}

/// A child's exit status once known, and the tasks waiting for it.
private final class ExitWatch: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [Int: CheckedContinuation<Int32?, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    var status: Int32? { state.withLock { $0.status } }

    func finish(_ status: Int32) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    /// The exit status once the child has exited; nil if the waiting task is cancelled first.
    func wait() async -> Int32? {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let now: Int32?? = state.withLock { state in
                    if let status = state.status { return .some(status) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }
}

extension TerminationStatus {
    /// The exit code, or the signal number when a signal ended the process (as Foundation's
    /// `Process.terminationStatus` reported it).
    var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): signal
        }
    }
}
