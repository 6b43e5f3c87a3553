import Foundation
import Spool
@testable import SpoolPostgres
import SpoolTesting
import Testing

/// `handle.value` on PostgreSQL is woken by the finish, in this process and in another one,
/// not by a poll: the polls here are 60 s apart, so a wait that ends within the test's time
/// limit was pushed.
@Suite(
    "PostgreSQL: waiting for a finish is pushed", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage),
    .timeLimit(.minutes(1)))
struct PostgresFinishWaitTests {
    static func storage(_ schema: String, url: String) throws -> PostgresStorage {
        try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema, pollInterval: .seconds(60)))
    }

    static func job() -> NewJob {
        NewJob(kind: "noop", payload: JobPayload(bytes: Array("{}".utf8)), runAt: Date(), createdAt: Date())
    }

    @Test("a job finished by another storage (another process's) wakes the waiter through a notification")
    func finishInAnotherProcessWakesTheWaiter() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("wait")
        let waiterSide = try Self.storage(schema, url: url)
        let workerSide = try Self.storage(schema, url: url)
        try await PostgresTestServer.running(waiterSide) { waiterSide in
            try await PostgresTestServer.running(workerSide) { workerSide in
                for outcome in [
                    JobCompletion.Outcome.succeeded(result: Array("7".utf8)),
                    .dead(error: JobAttemptError(attempt: 1, at: Date(), message: "no")),
                ] {
                    let id = try await waiterSide.enqueue([Self.job()], whenFull: .wait, now: Date())[0].id
                    let claimed = try await workerSide.claim(
                        ClaimRequest(demands: [QueueDemand(queue: "default", limit: 1)], worker: "w", lease: .seconds(30)), now: Date())
                    #expect(claimed.map(\.id) == [id])
                    let started = ContinuousClock.now
                    try await withThrowingTaskGroup(of: JobRecord?.self) { group in
                        group.addTask { try await waiterSide.waitForFinish(id) }
                        // Finish only once the waiter has marked the job as awaited.
                        try await Expectation.poll(every: .milliseconds(5), timeout: .seconds(20), "the job is marked as awaited") {
                            try await PostgresTestServer.withConnection(url: url) { connection in
                                let rows = try await connection.query(
                                    "SELECT watched FROM \(unescaped: schema).jobs WHERE id = \(PostgresCoding.uuid(id))",
                                    logger: .init(label: "t"))
                                for try await watched in rows.decode(Bool.self) { return watched }
                                return false
                            }
                        }
                        let lost = try await workerSide.finish([JobCompletion(id: id, outcome: outcome, at: Date())], worker: "w").lost
                        #expect(lost.isEmpty)
                        let record = try await group.next() ?? nil
                        #expect(record?.state.isFinished == true, "\(String(describing: record?.state))")
                    }
                    #expect(ContinuousClock.now - started < .seconds(30), "woken by the finish, not by the 60 s poll")
                }
            }
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    @Test("a cancel or delete in this process wakes its waiter at once")
    func localCancelWakesTheWaiter() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("wait")
        try await PostgresTestServer.running(try Self.storage(schema, url: url)) { storage in
            let cancelled = try await storage.enqueue([Self.job()], whenFull: .wait, now: Date())[0].id
            let deleted = try await storage.enqueue([Self.job()], whenFull: .wait, now: Date())[0].id
            async let cancelWait = storage.waitForFinish(cancelled)
            async let deleteWait = storage.waitForFinish(deleted)
            try await Expectation.poll(every: .milliseconds(5), timeout: .seconds(20), "both are watched") {
                storage.finishWatch.isWatching(cancelled) && storage.finishWatch.isWatching(deleted)
            }
            _ = try await storage.cancel([cancelled], now: Date())
            _ = try await storage.delete([deleted])
            #expect(try await cancelWait?.state == .cancelled)
            #expect(try await deleteWait == nil)
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }
}
