import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
import Subprocess
import Testing
@testable import SpoolServer

/// `examples/python-worker/spool_worker.py` (standard library only) against a live server:
/// it claims, runs, heartbeats and finishes through the worker protocol.
@Suite("Python example worker", .timeLimit(.minutes(2)))
struct PythonWorkerTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/python-worker/spool_worker.py").path
    }

    @Test("the Python worker runs jobs, and its failures retry or die by the server's rules")
    func pythonWorkerRunsJobs() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage) { $0.adminToken = "secret" }
        try await server.makeApplication().test(.live) { client in
            let port = try #require(client.port)
            var ids: [String] = []
            for index in 0..<10 {
                let reply = try await client.call(
                    .post, "/v1/jobs", body: #"{"kind": "py.upper", "queue": "python", "payload": {"text": "job \#(index)"}}"#,
                    token: "secret")
                ids.append(try #require(reply["id"]?.stringValue))
            }
            let permanent = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "py.fail", "queue": "python", "payload": {"permanent": true, "message": "bad input"}}"#,
                token: "secret")
            let retried = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "py.fail", "queue": "python", "max_attempts": 5, "payload": {"message": "flaky"}}"#,
                token: "secret")
            let unknown = try await client.call(.post, "/v1/jobs", body: #"{"kind": "py.nope", "queue": "python"}"#, token: "secret")

            let run = try await PythonProcess.run(
                [
                    Self.script, "--url", "http://127.0.0.1:\(port)", "--queues", "python", "--concurrency", "3", "--wait", "1",
                    "--max-jobs", "13", "--idle-exit", "20",
                ],
                environment: ["SPOOL_ADMIN_TOKEN": "secret"], timeout: .seconds(60)
            )
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("ran 13 jobs"), "\(run.output)")

            for (index, id) in ids.enumerated() {
                let jobID = try #require(JobID(id))
                let record = try #require(try await storage.job(jobID))
                #expect(record.state == .succeeded)
                let result = record.result.map { String(decoding: $0, as: UTF8.self) } ?? ""
                #expect(result.contains("JOB \(index)"), "\(result)")
            }
            func state(_ reply: Reply) async throws -> JobRecord {
                let id = try #require(reply["id"]?.stringValue.flatMap { JobID($0) })
                return try #require(try await storage.job(id))
            }
            let dead = try await state(permanent)
            #expect(dead.state == .dead && dead.lastError?.message == "bad input" && dead.lastError?.reason == "permanent")
            let again = try await state(retried)
            #expect(
                again.state == .scheduled && again.attempt == 1 && again.lastError?.message.contains("flaky") == true,
                "retried with backoff")
            let noHandler = try await state(unknown)
            #expect(noHandler.state == .dead && noHandler.lastError?.message.contains("no handler for kind 'py.nope'") == true)
        }
    }
}

/// A `python3` child process, run through swift-subprocess.
enum PythonProcess {
    struct Run: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `python3 arguments…` with the test process's environment plus `environment`, and
    /// returns its exit status and its standard output and error, interleaved as written.
    /// - Throws: ``PythonTimedOut`` (with its output) when it has not exited within `timeout`;
    ///   it is SIGKILLed then.
    static func run(_ arguments: [String], environment: [String: String], timeout: Duration) async throws -> Run {
        var overrides: [Subprocess.Environment.Key: String?] = [:]
        for (key, value) in environment { overrides[.init(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .name("python3"), arguments: Arguments(arguments), environment: .inherit.updating(overrides),
            input: .none, output: .sequence, error: .combinedWithOutput
        ) { execution in
            try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    var output: [UInt8] = []
                    for try await buffer in execution.standardOutput {
                        buffer.withUnsafeBytes { output.append(contentsOf: $0) }
                    }
                    return output
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                var timedOut = false
                while let next = try await group.next() {
                    if let output = next {
                        group.cancelAll()
                        return (output: String(decoding: output, as: UTF8.self), timedOut: timedOut)
                    }
                    // The deadline passed: SIGKILL, then read the output to its end.
                    timedOut = true
                    try? execution.send(signal: .kill)
                }
                return (output: "", timedOut: true)
            }
        }
        let (output, timedOut) = result.closureResult
        if timedOut { throw PythonTimedOut(after: timeout, output: output) }
        switch result.terminationStatus {
        case .exited(let code): return Run(status: code, output: output)
        case .signaled(let signal): return Run(status: signal, output: output)
        }
    }
}

struct PythonTimedOut: Error, CustomStringConvertible {
    let after: Duration
    let output: String
    var description: String { "python3 did not exit within \(after); its output: \(output)" }
}
