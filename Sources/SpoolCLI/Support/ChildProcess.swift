import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process (usually this same executable, e.g. a `spool work` for W6) that can be
/// signalled and awaited without blocking a thread.
///
/// The exit is observed through Foundation's termination handler, so ``waitForExit()`` waits
/// on an event, not a poll. The child inherits standard error, so its log lines show.
final class ChildProcess: Sendable {
    private let process: Process
    private let exit = ExitWatch()

    /// The exit status once known, and the tasks waiting for it.
    private final class ExitWatch: Sendable {
        private struct State {
            var status: Int32?
            var waiters: [CheckedContinuation<Int32, Never>] = []
        }

        private let state = Mutex(State())

        var status: Int32? { state.withLock { $0.status } }

        func exited(_ status: Int32) {
            let waiters = state.withLock { state in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: status) }
        }

        func wait() async -> Int32 {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                let status: Int32? = state.withLock { state in
                    if let status = state.status { return status }
                    state.waiters.append(continuation)
                    return nil
                }
                if let status { continuation.resume(returning: status) }
            }
        }
    }

    /// Starts `executable` with `arguments`; standard input and output are discarded.
    /// - Throws: ``CLIError`` when the process cannot be started.
    init(executable: String, arguments: [String], environment: [String: String]? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let exit = self.exit
        process.terminationHandler = { process in exit.exited(process.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw CLIError("cannot start '\(executable)': \(error.localizedDescription)")
        }
    }

    /// The path of the running executable (`/proc/self/exe` on Linux).
    static func currentExecutable() throws -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        if let path = Bundle.main.executablePath { return path }
        throw CLIError("cannot find the path of the running spool executable")
    }

    /// The child's process id.
    var pid: Int32 { process.processIdentifier }

    /// The exit status once it has exited (the signal number when killed by a signal), else nil.
    var exitStatus: Int32? { exit.status }

    /// Sends `signal` (e.g. `SIGKILL`, `SIGTERM`) unless the child has already exited.
    func send(_ signal: Int32) {
        guard exitStatus == nil else { return }
        kill(pid, signal)
    }

    /// Waits until the child exits; returns its exit status.
    func waitForExit() async -> Int32 {
        await exit.wait()
    }

    /// Asks the child to stop with SIGTERM, SIGKILLs it if it is still running after `grace`,
    /// and returns its exit status once it has exited.
    @discardableResult
    func stop(grace: Duration) async -> Int32 {
        send(SIGTERM)
        return await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await self.waitForExit() }
            group.addTask {
                do {
                    try await Task.sleep(for: grace)
                    self.send(SIGKILL)
                } catch {}
                return nil
            }
            var status: Int32 = 0
            for await result in group {
                if let result {
                    status = result
                    group.cancelAll()
                }
            }
            return status
        }
    }
}
