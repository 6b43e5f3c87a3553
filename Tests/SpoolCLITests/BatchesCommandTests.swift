import Foundation
import Spool
import SpoolSQLite
import Testing

/// `spool batches list|show|cancel` on one SQLite file, run as the built `spool` binary.
@Suite("spool batches", .timeLimit(.minutes(2)))
struct BatchesCommandTests {
    @Test("list → show (text and JSON) → cancel → show again; bad ids and unknown batches are one error line")
    func listShowCancel() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            let database = ["--database", "sqlite:\(path)"]
            func run(
                _ arguments: [String], expectStatus: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation
            ) async throws
                -> SpoolRun
            {
                let result = try await spool(arguments + database, in: folder)
                #expect(
                    result.status == expectStatus, "spool \(arguments.joined(separator: " ")): \(result)", sourceLocation: sourceLocation)
                return result
            }
            let storage = try SQLiteStorage(path: path)
            let now = Date()
            let batch = NewBatch(
                jobs: (0..<3).map { _ in NewJob(kind: "row", payload: JobPayload(bytes: []), runAt: now, createdAt: now) },
                callbacks: BatchCallbacks(
                    onComplete: NewJob(queue: "callbacks", kind: "report", payload: JobPayload(bytes: []), runAt: now, createdAt: now)),
                createdAt: now)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: now)
            try storage.close()
            let id = batch.id.description

            let list = try await run(["batches", "list"])
            #expect(list.stdout.contains(id) && list.stdout.contains("running") && list.stdout.contains("0 of 3 finished"), "\(list)")
            let listed = try await run(["batches", "list", "--json"]).jsonObject()
            #expect((listed["batches"] as? [[String: Any]])?.first?["id"] as? String == id)

            let shown = try await run(["batches", "show", id])
            #expect(shown.stdout.contains("available 3") && shown.stdout.contains("on_complete  not fired"), "\(shown)")
            #expect(shown.stdout.components(separatedBy: "\n").filter { $0.contains(" row ") }.count == 3, "its jobs: \(shown)")
            let json = try await run(["batches", "show", id, "--json"]).jsonObject()
            #expect(json["total"] as? Int == 3 && (json["jobs"] as? [Any])?.count == 3, "\(json)")

            let cancelled = try await run(["batches", "cancel", id])
            #expect(cancelled.stdout.contains("cancelled batch \(id): 3 job(s) cancelled"), "\(cancelled)")
            let after = try await run(["batches", "show", id, "--json"]).jsonObject()
            #expect(after["state"] as? String == "cancelled", "\(after)")
            let callback = (after["callbacks"] as? [String: Any])?["on_complete"] as? String
            #expect(callback?.count == 26, "on_complete fired: \(after)")

            let bad = try await run(["batches", "show", "nope"], expectStatus: 1)
            #expect(bad.errorLines.count == 1 && bad.errorLines[0].contains("'nope' is not a batch id"), "\(bad)")
            let unknown = try await run(["batches", "cancel", JobID().description], expectStatus: 1)
            #expect(unknown.errorLines.count == 1 && unknown.errorLines[0].contains("no batch has id"), "\(unknown)")
            let limit = try await run(["batches", "list", "--limit", "0"], expectStatus: 1)
            #expect(limit.errorLines == ["error: --limit must be from 1 to 1,000 (got 0)"], "\(limit)")
        }
    }
}
