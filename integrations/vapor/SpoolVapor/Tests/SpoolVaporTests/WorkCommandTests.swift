import Foundation
import Spool
import SpoolSQLite
import Subprocess
import Testing

/// The example app's job kinds, as it registers them (see Sources/SpoolVaporExample/Jobs.swift).
private struct ExampleEmail: JobParameters {
    static let kind = "example.send-email"
    var to: String
    var subject: String
}

private struct ExampleHeartbeat: JobParameters {
    static let kind = "example.heartbeat"
}

private struct ExampleNap: JobParameters {
    static let kind = "example.nap"
    var milliseconds: Int
}

@Suite("`App spool work`: the example app as a child process")
struct WorkCommandTests {
    @Test("spool work runs the jobs a test enqueued into a SQLite file and the app's schedules, and on SIGTERM lets the running job finish")
    func workRunsJobsAndDrainsOnSIGTERM() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-vapor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/jobs.sqlite"
        let storage = try SQLiteStorage(path: path)
        let client = SpoolClient(storage: storage)
        // Enqueued before the worker runs: the email goes to the example's `mail` queue.
        let email = try await client.enqueue(ExampleEmail(to: "ada@example.com", subject: "hi"), options: EnqueueOptions(queue: "mail"))

        let run = try await runExample(
            ["spool", "work", "--queues", "default,mail", "--concurrency", "2", "--drain-timeout", "20"], in: folder,
            environment: ["SPOOL_DATABASE_URL": "sqlite:\(path)", "LOG_LEVEL": "info", "SPOOL_EXAMPLE_HEARTBEAT_SECONDS": "1"]
        ) { signal in
            let sent = try await within(.seconds(60), "the email job") { try await email.value }
            #expect(sent.succeeded, "\(String(describing: sent.error))")
            // The app's schedules run under `spool work` too: a tick's job is stored and run.
            _ = try await poll("a heartbeat tick's job to succeed", timeout: .seconds(30)) {
                try await storage.jobs(JobFilter(states: [.succeeded], kind: ExampleHeartbeat.kind), after: nil, limit: 1).jobs
            } until: {
                !$0.isEmpty
            }
            let nap = try await client.enqueue(ExampleNap(milliseconds: 1500))
            _ = try await poll("the nap job to run", timeout: .seconds(30)) {
                try await nap.record()?.state
            } until: {
                $0 == .running
            }
            signal(.terminate)
            // The process exits only after the drain; the outcome is stored by then.
            _ = try await within(.seconds(60), "the nap job's outcome") { try await nap.value }
        }
        #expect(run.status == .exited(0), "\(run)")
        let log = run.stdout + run.stderr
        #expect(log.components(separatedBy: "worker started").count - 1 == 1, "one worker: the in-process ones stay off\n\(log)")
        #expect(log.contains("default,mail"), "the --queues override applies\n\(log)")
        let naps = try await storage.jobs(JobFilter(kind: ExampleNap.kind), after: nil, limit: 10).jobs
        #expect(naps.count == 1)
        #expect(naps.first?.state == .succeeded, "drained, not handed back: \(String(describing: naps.first?.state))")
        #expect(naps.first?.attempt == 1)
    }

    @Test("spool work refuses bad options naming them, and exits non-zero")
    func badOptionsAreRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-vapor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try await runExample(
            ["spool", "work", "--concurrency", "0"], in: folder, environment: ["SPOOL_DATABASE_URL": "sqlite:\(folder)/jobs.sqlite"]
        ) { _ in }
        #expect(run.status == .exited(1), "\(run)")
        #expect((run.stdout + run.stderr).contains("--concurrency must be 1 to"), "\(run)")
    }
}
