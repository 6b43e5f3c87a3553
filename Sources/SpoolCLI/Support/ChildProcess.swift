import Foundation
import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process (usually this same executable, e.g. a `spool work` for W6) that lives for
/// the duration of a closure: ``run(executable:arguments:stopGrace:_:)``.
///
/// Started and awaited through swift-subprocess: the exit is an event (a pidfd on Linux), never
/// a `waitpid` poll, and signals go to that process only, never to a reused pid. The child's
/// standard output is discarded; it inherits standard error, so its log lines show.
final class ChildProcess: Sendable {
    /// Signals asked for by ``send(_:)``, delivered once the child runs.
    private let signals = AsyncStream<Int32>.makeStream()
    private let status = Mutex<Int32?>(nil)

    private init() {}

    /// Runs `executable` with `arguments` while `body` runs with the child's handle.
    ///
    /// When `body` returns the child is asked to stop with SIGTERM, SIGKILLed if it is still
    /// running after `stopGrace`, and awaited; when `body` throws the same happens with a grace
    /// of one second and the error is rethrown. No child outlives the call.
    /// - Returns: what `body` returned, and the child's exit status (the signal number when a
    ///   signal ended it).
    /// - Throws: what `body` throws, or ``CLIError`` when the process cannot be started.
    static func run<T>(
        executable: String, arguments: [String], stopGrace: Duration, _ body: (ChildProcess) async throws -> T
    ) async throws -> (value: T, status: Int32) {
        let child = ChildProcess()
        return try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { try await child.execute(executable: executable, arguments: arguments) }
            let value: T
            do {
                value = try await body(child)
            } catch {
                // A child that could not start explains the failure better than `body` does.
                _ = try await child.stop(grace: .seconds(1), in: &group)
                throw error
            }
            return (value, try await child.stop(grace: stopGrace, in: &group))
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

    /// The exit status once the child has exited (the signal number when killed by a signal),
    /// else nil.
    var exitStatus: Int32? { status.withLock { $0 } }

    /// Sends `signal` (e.g. `SIGKILL`, `SIGTERM`) to the child; nothing once it has exited.
    func send(_ signal: Int32) {
        signals.continuation.yield(signal)
    }

    /// Runs the process to its end, forwarding ``send(_:)``'s signals meanwhile.
    private func execute(executable: String, arguments: [String]) async throws -> Int32 {
        let result: ExecutionResult<Void, SequenceOutput, FileDescriptorOutput>
        do {
            result = try await Subprocess.run(
                .path(.init(executable)), arguments: Arguments(arguments),
                input: .none, output: .sequence, error: .currentStandardError
            ) { execution in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await signal in self.signals.stream { try? execution.send(signal: Signal(rawValue: signal)) }
                    }
                    // Output is not used: its end is how the body learns that the child is gone.
                    do { for try await _ in execution.standardOutput {} } catch {}
                    group.cancelAll()
                }
            }
        } catch {
            status.withLock { $0 = 127 }
            throw CLIError("cannot start '\(executable)': \(error)")
        }
        let code: Int32 =
            switch result.terminationStatus {
            case .exited(let code): code
            case .signaled(let signal): signal
            }
        status.withLock { $0 = code }
        return code
    }

    /// Sends SIGTERM, SIGKILL after `grace`, and waits for the child's exit (the group's task
    /// running ``execute(executable:arguments:)``).
    private func stop(grace: Duration, in group: inout ThrowingTaskGroup<Int32?, any Error>) async throws -> Int32 {
        send(SIGTERM)
        group.addTask {
            try? await Task.sleep(for: grace)
            return nil
        }
        while let next = try await group.next() {
            if let code = next {
                group.cancelAll()
                return code
            }
            send(SIGKILL)  // the grace period is over
        }
        return exitStatus ?? SIGKILL
    }
}
