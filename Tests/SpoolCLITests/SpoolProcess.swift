import Foundation
import Spool
import SpoolSQLite
import Subprocess
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built `spool` executable these tests run as a subprocess.
///
/// It sits in the build products folder beside the test bundle (`swift build --build-tests`
/// builds it): on Linux the test process is `<products>/SpoolPackageTests.xctest`, so
/// `/proc/self/exe`'s folder; `SPOOL_CLI_BINARY` overrides.
enum SpoolExecutable {
    static let path: String? = {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["SPOOL_CLI_BINARY"] { return override }
        var folders: [URL] = []
        if let exe = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        folders.append(Bundle.main.bundleURL.deletingLastPathComponent())
        folders.append(Bundle.main.bundleURL)
        if let first = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent("spool").path
            if fileManager.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// The path, or a test failure explaining how to get one.
    static func require() throws -> String {
        try #require(
            path,
            "the spool executable was not found beside the test bundle: build it with `swift build --build-tests`, or set SPOOL_CLI_BINARY")
    }
}

/// How one `spool` invocation ended.
struct SpoolRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The non-empty lines of standard error.
    var errorLines: [String] { stderr.split(separator: "\n").map(String.init) }

    /// Standard output parsed as one JSON object.
    func jsonObject() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
        return try #require(value as? [String: Any], "standard output is not a JSON object: \(stdout)")
    }

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    let after: Duration
    var description: String { "timed out after \(after) waiting for \(what)" }
}

/// Runs `spool arguments…` to completion in `folder` (see ``SpoolChild/init(_:in:environment:)``
/// for its environment), collecting its output; SIGKILLs it and throws ``TimedOut`` after
/// `timeout`.
func spool(
    _ arguments: [String], in folder: String, environment: [String: String] = [:], timeout: Duration = .seconds(60)
) async throws -> SpoolRun {
    let configuration = try SpoolChild.configuration(arguments, in: folder, environment: environment)
    let run = try await withThrowingTaskGroup(of: SpoolRun?.self) { group in
        group.addTask {
            let result = try await Subprocess.run(configuration, output: .string(limit: .max), error: .string(limit: .max))
            return SpoolRun(status: result.terminationStatus.code, stdout: result.standardOutput, stderr: result.standardError)
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        // Cancelling the run at the deadline SIGKILLs the process (swift-subprocess's teardown).
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
    guard let run else { throw TimedOut(what: "spool \(arguments.joined(separator: " ")) to exit", after: timeout) }
    return run
}

/// Runs `body` with a new empty folder, removed afterwards; ``SpoolChild``ren started in `body`
/// are SIGKILLed, if still running, and awaited before that.
func withTemporaryFolder<T>(_ body: (String) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-cli-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try await ChildScope.run { try await body(folder) }
}

/// Reads the job counts of the SQLite file at `path` every 50 ms (the file is shared with a
/// child process, so there is no in-process event to wait on) until `condition` holds.
/// - Returns: the counts that satisfied `condition`.
/// - Throws: ``TimedOut`` after `timeout`, or at once if `child` exits first (with its output).
@discardableResult
func watchStore(
    at path: String, while child: SpoolChild? = nil, timeout: Duration, _ what: String,
    until condition: (StorageStats) -> Bool
) async throws -> StorageStats {
    let storage = try SQLiteStorage(path: path, configuration: .init(readers: 1, migrateOnOpen: false))
    defer { try? storage.close() }
    return try await watchStorage(storage, while: child, timeout: timeout, what, until: condition)
}

/// Reads the job counts of `storage` every 50 ms (it is shared with child processes) until
/// `condition` holds; see ``watchStore(at:while:timeout:_:until:)``.
@discardableResult
func watchStorage(
    _ storage: any JobStorage, while child: SpoolChild? = nil, timeout: Duration, _ what: String,
    until condition: (StorageStats) -> Bool
) async throws -> StorageStats {
    let deadline = ContinuousClock.now + timeout
    while true {
        let stats = try await storage.stats()
        if condition(stats) { return stats }
        if let child, child.hasExited {
            throw ChildExited(what: what, output: child.output.stderr)
        }
        guard ContinuousClock.now < deadline else { throw TimedOut(what: "\(what) (counts: \(stats.queues))", after: timeout) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

struct ChildExited: Error, CustomStringConvertible {
    let what: String
    let output: String
    var description: String { "the spool child exited before \(what); its standard error: \(output)" }
}

/// Every job in `storage`, paging through all of them.
func allJobs(in storage: any JobStorage) async throws -> [JobRecord] {
    var records: [JobRecord] = []
    var cursor: JobID?
    repeat {
        let page = try await storage.jobs(JobFilter(), after: cursor, limit: 5_000)
        records += page.jobs
        cursor = page.nextCursor
    } while cursor != nil
    return records
}

/// Kills `worker` (SIGKILL) at a moment it holds leases: once `ready` holds, it is frozen with
/// SIGSTOP and the store read; with jobs running it is killed, otherwise (it was between a
/// flush of outcomes and its next claim) it resumes and the next reading tries again. Returns
/// the counts read while it was frozen: what it held when it died.
func killHoldingJobs(
    _ worker: SpoolChild, _ storage: any JobStorage, timeout: Duration = .seconds(60), after what: String,
    ready: @escaping (StorageStats) -> Bool
) async throws -> StorageStats {
    let deadline = ContinuousClock.now + timeout
    while true {
        try await watchStorage(storage, while: worker, timeout: timeout, what) { ready($0) && $0.count(.running) > 0 }
        worker.send(SIGSTOP)
        // A statement already on its way when the process froze still lands: let it.
        try await Task.sleep(for: .milliseconds(100))
        let frozen = try await storage.stats()
        if frozen.count(.running) > 0 {
            worker.send(SIGKILL)
            return frozen
        }
        worker.send(SIGCONT)
        guard ContinuousClock.now < deadline else { throw TimedOut(what: "a moment with jobs in hand after \(what)", after: timeout) }
    }
}

/// Waits until `condition` holds on `storage` while `children` run (failing early if `child`
/// exits), then stops every child with SIGTERM and expects each to exit cleanly. On a timeout
/// or any other failure the children are SIGKILLed and the error rethrown.
func stopOnceStored(
    _ children: [SpoolChild], _ storage: any JobStorage, while child: SpoolChild? = nil, timeout: Duration, _ what: String,
    until condition: (StorageStats) -> Bool
) async throws {
    do {
        try await watchStorage(storage, while: child, timeout: timeout, what, until: condition)
    } catch {
        for child in children { child.send(SIGKILL) }
        throw error
    }
    for child in children { child.send(SIGTERM) }
    for child in children {
        #expect(try await child.waitForExit(timeout: .seconds(30)) == 0, "\(child.output.stderr)")
    }
}
