import Foundation
import GRDB
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

extension SQLiteStorageTests {
    // MARK: Files

    @Test("everything survives close and reopen")
    func dataSurvivesReopen() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/durable.sqlite"
            var storage: SQLiteStorage? = try await SQLiteStorage.open(path: path)
            let jobs = [
                newJob(
                    "a", priority: 3, uniqueKey: "key-1", payload: #"{"n":1}"#, timeout: .milliseconds(1500),
                    metadata: ["traceparent": "00-abc", "tag": "x"]),
                newJob("b", runAt: t0.addingTimeInterval(90)),
                newJob("c", queue: "other"),
                newJob("d", payload: ""),
            ]
            let ids = try await storage!.enqueue(jobs, whenFull: .fail, now: t0).map(\.id)
            let claimed = try await claim(storage!, 1)
            #expect(claimed.map(\.id) == [ids[0]])
            let lost = try await storage!.heartbeat(
                [JobHeartbeat(id: ids[0], progress: JobProgress(fraction: 0.25, message: "a quarter"))], worker: "w1",
                lease: .seconds(60), now: t0.addingTimeInterval(1)
            ).lost
            #expect(lost.isEmpty)
            _ = try await storage!.finish(
                [
                    JobCompletion(
                        id: ids[0],
                        outcome: .retry(
                            at: t0.addingTimeInterval(5), error: JobAttemptError(attempt: 1, at: t0, message: "flaky", reason: "error")),
                        at: t0.addingTimeInterval(2))
                ],
                worker: "w1"
            )
            try await storage!.setPaused(true, queue: "other")
            let before = try await allRecords(storage!)
            try storage!.close()
            storage = nil

            let reopened = try await SQLiteStorage.open(path: path)
            let after = try await allRecords(reopened)
            #expect(after.count == 4)
            for (old, new) in zip(before, after) {
                #expect(describe(old) == describe(new))
            }
            let first = try #require(after.first { $0.id == ids[0] })
            #expect(first.state == .scheduled && first.attempt == 1 && first.runAt == t0.addingTimeInterval(5))
            #expect(first.errors == [JobAttemptError(attempt: 1, at: t0, message: "flaky", reason: "error")])
            #expect(first.progress == JobProgress(fraction: 0.25, message: "a quarter"))
            #expect(first.metadata == ["traceparent": "00-abc", "tag": "x"] && first.timeout == .milliseconds(1500))
            #expect(first.payload.text == #"{"n":1}"# && first.uniqueKey == "key-1" && first.priority == 3)
            #expect(first.attemptedAt == t0 && first.createdAt == t0)
            #expect(try await reopened.pausedQueues() == ["other"])
            let duplicate = try await reopened.enqueue([newJob(uniqueKey: "key-1")], whenFull: .fail, now: t0)
            #expect(duplicate[0].existing && duplicate[0].id == ids[0], "the unique key is still held")
            let next = try await claim(reopened, 10, at: t0.addingTimeInterval(100)).map(\.id)
            #expect(next == [ids[0], ids[3], ids[1]], "priority first, then run-at; got \(next)")
            #expect(try await claim(reopened, 10, queue: "other", at: t0.addingTimeInterval(100)).isEmpty, "still paused")
        }
    }

    private func allRecords(_ storage: SQLiteStorage) async throws -> [JobRecord] {
        try await storage.jobs(JobFilter(), after: nil, limit: 100).jobs
    }

    private func describe(_ record: JobRecord) -> String {
        "\(record.id) \(record.queue) \(record.kind) \(record.payload.text) \(record.priority) \(record.state) \(record.attempt) "
            + "\(record.maxAttempts) \(record.runAt) \(record.createdAt) \(String(describing: record.attemptedAt)) "
            + "\(String(describing: record.finishedAt)) \(String(describing: record.leaseOwner)) \(String(describing: record.leaseExpiresAt)) "
            + "\(record.errors) \(String(describing: record.uniqueKey)) \(String(describing: record.timeout)) "
            + "\(String(describing: record.result)) \(String(describing: record.progress)) \(record.expiredLeases) \(record.metadata.sorted { $0.key < $1.key })"
    }

    @Test("a file that is not a database gives a clear error and is left untouched")
    func notADatabase() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/notes.sqlite"
            let content = Data(String(repeating: "these are my notes, not a database\n", count: 200).utf8)
            try content.write(to: URL(fileURLWithPath: path))
            let error = await spoolError { _ = try await SQLiteStorage.open(path: path) }
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("not an SQLite database") == true, "\(String(describing: error))")
            #expect(error?.message.contains(path) == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content, "the file is unchanged")
        }
    }

    @Test("a file in a missing folder gives a clear error")
    func missingFolder() async throws {
        let path = "/nonexistent-\(UUID().uuidString)/spool.sqlite"
        let error = await spoolError { _ = try await SQLiteStorage.open(path: path) }
        #expect(error?.code == .storageUnavailable)
        #expect(
            error?.message.contains(path) == true && error?.message.contains("cannot be opened") == true, "\(String(describing: error))")
    }

    @Test("a write lock held too long by another connection gives a clear error, and nothing is lost")
    func lockedFile() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/locked.sqlite"
            let storage = try await SQLiteStorage.open(path: path, configuration: .init(busyTimeout: .milliseconds(200)))
            var configuration = GRDB.Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: path, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let error = await spoolError { _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0) }
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("locked") == true && error?.message.contains(path) == true, "\(String(describing: error))")
            #expect(try await storage.stats().count(.available) == 0, "the failed enqueue stored nothing")
            try await other.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
            #expect(try await storage.stats().count(.available) == 1)
        }
    }

    @Test("a closed storage refuses operations with a clear error")
    func closedStorage() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        try storage.close()
        let error = await spoolError { _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0) }
        #expect(error?.code == .storageUnavailable && error?.message.contains("closed") == true, "\(String(describing: error))")
        let readError = await spoolError { _ = try await storage.stats() }
        #expect(readError?.code == .storageUnavailable && readError?.message.contains("closed") == true)
    }

    @Test("a temporary store deletes its files when released")
    func temporaryFilesAreRemoved() async throws {
        var storage: SQLiteStorage? = try await SQLiteStorage.openTemporary()
        let path = storage!.path
        _ = try await storage!.enqueue([newJob()], whenFull: .fail, now: t0)
        #expect(FileManager.default.fileExists(atPath: path))
        storage = nil
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + "-wal"))
    }
}
