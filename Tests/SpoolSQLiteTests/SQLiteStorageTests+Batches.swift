import Foundation
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

extension SQLiteStorageTests {
    // MARK: Batched statements

    @Test("a large batch mixing unique keys and plain jobs keeps its order, and a duplicate id deep in it stores nothing")
    func largeMixedBatch() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let held = try await storage.enqueue([newJob(uniqueKey: "k1")], whenFull: .fail, now: t0)[0].id
        var jobs = (0..<150).map { index in
            newJob(uniqueKey: index == 70 ? "k1" : (index == 100 ? "k2" : nil), payload: index % 3 == 0 ? "" : "{\"i\":\(index)}")
        }
        jobs[40].metadata = ["trace": "t-40"]
        jobs[41].timeout = .seconds(3)
        let results = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
        #expect(results.count == jobs.count)
        for (index, result) in results.enumerated() {
            if index == 70 {
                #expect(result.existing && result.id == held)
            } else {
                #expect(!result.existing && result.id == jobs[index].id && result.state == .available)
            }
        }
        #expect(try await storage.stats().count(.available) == 150)
        let record = try #require(try await storage.job(jobs[40].id))
        let payload = try record.payload.encoded()
        #expect(record.metadata == ["trace": "t-40"] && payload == Array("{\"i\":40}".utf8) && record.timeout == nil)
        #expect(try await storage.job(jobs[41].id)?.timeout == .seconds(3))
        let empty = try #require(try await storage.job(jobs[3].id))
        #expect(try empty.payload.encoded() == [])

        // An id that exists, deep in a batch of plain jobs (inside a multi-row statement).
        var again = (0..<130).map { _ in newJob() }
        again[97].id = jobs[5].id
        let error = await spoolError { _ = try await storage.enqueue(again, whenFull: .fail, now: t0) }
        #expect(error?.code == .invalidArgument && error?.job == jobs[5].id)
        // A duplicate within the batch itself.
        var twice = (0..<80).map { _ in newJob() }
        twice[66].id = twice[2].id
        let inner = await spoolError { _ = try await storage.enqueue(twice, whenFull: .fail, now: t0) }
        #expect(inner?.code == .invalidArgument && inner?.job == twice[2].id)
        #expect(try await storage.stats().count(.available) == 150, "nothing of the failed batches is stored")
    }

    @Test("a batch of successes writes those whose lease is held and reports the others")
    func batchedSuccesses() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let ids = try await storage.enqueue((0..<100).map { _ in newJob() }, whenFull: .fail, now: t0).map(\.id)
        let claimed = try await claim(storage, 100)
        #expect(claimed.count == 100)
        _ = try await storage.cancel([ids[10]], now: t0)
        _ = try await storage.delete([ids[77]])
        let later = t0.addingTimeInterval(5)
        var completions = ids.enumerated().map { index, id in
            JobCompletion(id: id, outcome: .succeeded(result: index == 3 ? [] : (index == 4 ? Array("42".utf8) : nil)), at: later)
        }
        completions[50] = JobCompletion(
            id: ids[50], outcome: .retry(at: later, error: JobAttemptError(attempt: 1, at: later, message: "no")), at: later)
        let lost = try await storage.finish(completions, worker: "w1").lost
        #expect(Set(lost) == [ids[10], ids[77]])
        let done = try #require(try await storage.job(ids[0]))
        #expect(done.state == .succeeded && done.finishedAt == later && done.leaseOwner == nil && done.result == nil)
        #expect(try await storage.job(ids[3])?.result == [])
        #expect(try await storage.job(ids[4])?.result == Array("42".utf8))
        #expect(try await storage.job(ids[10])?.state == .cancelled)
        let retried = try #require(try await storage.job(ids[50]))
        #expect(retried.state == .scheduled && retried.errors.count == 1)
        #expect(try await storage.stats().count(.succeeded) == 97)
        // Written already: a second report of the same outcomes is refused, one by one.
        let again = try await storage.finish(Array(completions[0..<2]) + [completions[0]], worker: "w1").lost
        #expect(again == [ids[0], ids[1], ids[0]])
        // More successes than one statement takes, a lost lease in the second chunk.
        let many = try await storage.enqueue((0..<300).map { _ in newJob(queue: "many") }, whenFull: .fail, now: t0).map(\.id)
        #expect(try await claim(storage, 300, queue: "many").count == 300)
        _ = try await storage.delete([many[200]])
        let manyLost = try await storage.finish(
            many.map { JobCompletion(id: $0, outcome: .succeeded(result: nil), at: later) }, worker: "w1"
        ).lost
        #expect(manyLost == [many[200]])
        #expect(try await storage.stats().count(.succeeded, queue: "many") == 299)
        // Another worker's outcome is refused.
        let other = try await storage.enqueue([newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
        _ = try await claim(storage, 2, worker: "w2")
        let refused = try await storage.finish(
            other.map { JobCompletion(id: $0, outcome: .succeeded(result: nil), at: later) }, worker: "w1"
        ).lost
        #expect(Set(refused) == Set(other))
    }
}
