import Foundation
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

extension SQLiteStorageTests {
    // MARK: Several connections to one file

    @Test("two stores on one file share unique keys and never claim the same job")
    func twoConnectionsShareOneFile() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/shared.sqlite"
            let one = try await SQLiteStorage.open(path: path)
            let two = try await SQLiteStorage.open(path: path)
            let first = try await one.enqueue([newJob(uniqueKey: "k")], whenFull: .fail, now: t0)[0]
            let second = try await two.enqueue([newJob(uniqueKey: "k")], whenFull: .fail, now: t0)[0]
            #expect(second.existing && second.id == first.id)
            _ = try await one.enqueue((0..<1000).map { _ in newJob() }, whenFull: .fail, now: t0)
            let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
                for (index, storage) in [one, two, one, two].enumerated() {
                    group.addTask {
                        var mine: [JobID] = []
                        while true {
                            let batch = try await claim(storage, 7, worker: "w\(index)")
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                var all: [JobID] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(claimed.count == 1001 && Set(claimed).count == 1001)
        }
    }

    @Test("an idle waiter notices jobs enqueued through another connection by polling")
    func waiterNoticesOtherConnections() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/poll.sqlite"
            let waiting = try await SQLiteStorage.open(path: path, configuration: .init(pollInterval: .milliseconds(20)))
            let other = try await SQLiteStorage.open(path: path)
            let idle = EventRecorder<Bool>()
            let got = try await withThrowingTaskGroup(of: [JobID].self) { group in
                group.addTask {
                    // A worker's claim loop with an hour-long idle wait: `other` has its own wake
                    // signal, so only the poll can bring this loop back to claim.
                    while true {
                        let batch = try await claim(waiting, 10, at: Date())
                        if !batch.isEmpty { return batch.map(\.id) }
                        idle.record(true)
                        await waiting.waitForWork(queues: ["default"], deadline: Date().addingTimeInterval(3600), clock: SystemClock())
                    }
                }
                try await idle.waitForCount(1)
                let id = try await other.enqueue([newJob(runAt: Date())], whenFull: .fail, now: Date())[0].id
                let claimed = try await group.next() ?? []
                return claimed == [id] ? claimed : []
            }
            #expect(got.count == 1)
        }
    }

    @Test("waiting for a finish: woken by this process, noticed from another, nil when deleted")
    func waitingForFinish() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/finish.sqlite"
            let here = try await SQLiteStorage.open(path: path, configuration: .init(pollInterval: .milliseconds(20)))
            let elsewhere = try await SQLiteStorage.open(path: path)
            let ids = try await here.enqueue([newJob(), newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
            _ = try await claim(here, 3)
            let finished = EventRecorder<(JobID, JobState?)>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in ids {
                    group.addTask { finished.record((id, try await here.waitUntilFinished(id)?.state)) }
                }
                _ = try await here.finish([JobCompletion(id: ids[0], outcome: .succeeded(result: nil), at: t0)], worker: "w1")
                try await finished.waitForCount(1)
                #expect(finished.all.first?.0 == ids[0] && finished.all.first?.1 == .succeeded)
                // Another connection (as another process would) finishes the second: seen by polling.
                _ = try await elsewhere.finish(
                    [JobCompletion(id: ids[1], outcome: .dead(error: JobAttemptError(attempt: 1, at: t0, message: "no")), at: t0)],
                    worker: "w1")
                try await finished.waitForCount(2)
                _ = try await here.delete([ids[2]])
                try await finished.waitForCount(3)
                try await group.waitForAll()
            }
            let states = Dictionary(uniqueKeysWithValues: finished.all.map { ($0.0, $0.1) })
            #expect(states[ids[1]] == .dead && states[ids[2]] == .some(nil))
        }
    }
}
