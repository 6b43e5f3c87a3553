import Foundation
import Subprocess
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built `SpoolVaporExample` executable (the example app), which these tests run as a child
/// process: it sits in the build products folder beside the test bundle (`swift build` builds
/// it; on Linux the test process is `<products>/SpoolVaporPackageTests.xctest`);
/// `SPOOL_VAPOR_EXAMPLE_BINARY` overrides.
enum ExampleExecutable {
    static let path: String? = {
        if let override = ProcessInfo.processInfo.environment["SPOOL_VAPOR_EXAMPLE_BINARY"] { return override }
        var folders: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let first = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return folders.map { $0.appendingPathComponent("SpoolVaporExample").path }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }()

    static func require() throws -> String {
        try #require(
            path, "SpoolVaporExample was not found beside the test bundle: run `swift build` first, or set SPOOL_VAPOR_EXAMPLE_BINARY")
    }
}

/// How a run of the example app ended.
struct ExampleRun: CustomStringConvertible {
    var status: TerminationStatus
    var stdout: String
    var stderr: String

    var description: String { "\(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs `SpoolVaporExample arguments…` in `folder` with `environment` added to this process's,
/// calls `body` while it runs (with a way to signal it), then waits for it to exit and returns
/// its status and output.
///
/// A child still running when `body` throws is SIGKILLed; one that has not exited after
/// `timeout` is SIGKILLed and ``TimedOut`` thrown, so a failing test leaves no process behind.
func runExample(
    _ arguments: [String], in folder: String, environment: [String: String], timeout: Duration = .seconds(120),
    _ body: @escaping @Sendable (_ signal: @Sendable (Signal) -> Void) async throws -> Void
) async throws -> ExampleRun {
    var overrides: [Subprocess.Environment.Key: String?] = [:]
    for (key, value) in environment { overrides[.init(stringLiteral: key)] = value }
    let configuration = Subprocess.Configuration(
        executable: .path(.init(try ExampleExecutable.require())), arguments: Arguments(arguments),
        environment: .inherit.updating(overrides), workingDirectory: .init(folder)
    )
    let pid = ProcessID()
    return try await withThrowingTaskGroup(of: ExampleRun?.self) { group in
        group.addTask {
            let result = try await Subprocess.run(
                configuration, input: .none, output: .string(limit: 8 << 20), error: .string(limit: 8 << 20)
            ) { execution in
                pid.value.withLock { $0 = execution.processIdentifier.value }
                do {
                    try await body { signal in try? execution.send(signal: signal) }
                } catch {
                    try? execution.send(signal: .kill)
                    throw error
                }
            }
            return ExampleRun(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        if let run = try await group.next()!, true {
            return run
        }
        if let pid = pid.value.withLock({ $0 }) { kill(pid, SIGKILL) }
        throw TimedOut(what: "SpoolVaporExample \(arguments.joined(separator: " ")) to exit", after: timeout)
    }
}

/// The child's process id once it runs, for the watchdog.
private final class ProcessID: Sendable {
    let value = Mutex<pid_t?>(nil)
}
