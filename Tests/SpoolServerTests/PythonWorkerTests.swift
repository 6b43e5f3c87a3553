import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
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
                let reply = try await client.call(.post, "/v1/jobs", body: #"{"kind": "py.upper", "queue": "python", "payload": {"text": "job \#(index)"}}"#, token: "secret")
                ids.append(try #require(reply["id"]?.stringValue))
            }
            let permanent = try await client.call(.post, "/v1/jobs", body: #"{"kind": "py.fail", "queue": "python", "payload": {"permanent": true, "message": "bad input"}}"#, token: "secret")
            let retried = try await client.call(.post, "/v1/jobs", body: #"{"kind": "py.fail", "queue": "python", "max_attempts": 5, "payload": {"message": "flaky"}}"#, token: "secret")
            let unknown = try await client.call(.post, "/v1/jobs", body: #"{"kind": "py.nope", "queue": "python"}"#, token: "secret")

            let run = try await PythonProcess.run(
                [Self.script, "--url", "http://127.0.0.1:\(port)", "--queues", "python", "--concurrency", "3", "--wait", "1", "--max-jobs", "13", "--idle-exit", "20"],
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
            #expect(again.state == .scheduled && again.attempt == 1 && again.lastError?.message.contains("flaky") == true, "retried with backoff")
            let noHandler = try await state(unknown)
            #expect(noHandler.state == .dead && noHandler.lastError?.message.contains("no handler for kind 'py.nope'") == true)
        }
    }
}

/// A `python3` child process, awaited through its termination handler.
enum PythonProcess {
    struct Run: Sendable {
        var status: Int32
        var output: String
    }

    static func run(_ arguments: [String], environment: [String: String], timeout: Duration) async throws -> Run {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("spool-python-\(UUID().uuidString).out").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { process in
            exited.continuation.yield(process.terminationStatus)
            exited.continuation.finish()
        }
        try process.run()
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exited.stream { return status }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if status == nil { process.terminate() }
        try? output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard let status else { throw PythonTimedOut(after: timeout, output: text) }
        return Run(status: status, output: text)
    }
}

struct PythonTimedOut: Error, CustomStringConvertible {
    let after: Duration
    let output: String
    var description: String { "python3 did not exit within \(after); its output: \(output)" }
}
