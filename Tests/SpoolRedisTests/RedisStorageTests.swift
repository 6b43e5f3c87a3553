import Foundation
import Spool
import SpoolTesting
import Testing

@testable import SpoolRedis

@Suite("Redis URL")
struct RedisURLTests {
    @Test("URL forms: host, port, database, password, user and password, options")
    func forms() throws {
        let plain = try RedisURL("redis://127.0.0.1:6380/2")
        #expect(plain.endpoint == RedisEndpoint(host: "127.0.0.1", port: 6380, user: nil, password: nil, database: 2))
        let defaults = try RedisURL("redis://cache")
        #expect(defaults.endpoint.port == 6379 && defaults.endpoint.database == 0)
        let password = try RedisURL("redis://:s%40cret@h:1/0")
        #expect(password.endpoint.user == nil && password.endpoint.password == "s@cret")
        let user = try RedisURL("redis://app:pw@h:1?namespace=jobs&pool_size=8")
        #expect(user.endpoint.user == "app" && user.endpoint.password == "pw" && user.namespace == "jobs" && user.poolSize == 8)
        #expect(!user.description.contains("pw"))
    }

    @Test(
        "bad URLs are refused without showing the password",
        arguments: [
            "postgres://h/0", "redis://:secret@h:1/x", "redis://:secret@h:1/0?colour=red", "redis://h?namespace=a%20b", "redis://",
        ])
    func refused(_ url: String) throws {
        let error = try #require(throws: SpoolError.self) { _ = try RedisURL(url) }
        #expect(error.code == .invalidArgument)
        #expect(!error.message.contains("secret"))
    }
}

@Suite("Redis driver", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisStorageTests {
    @Test("a connection pipelines commands and replies come back in order")
    func pipelining() async throws {
        let url = try RedisURL(try RedisTestServer.requireURL())
        let connection = try await RESPConnection.connect(to: url.endpoint, timeout: .seconds(5))
        defer { connection.close() }
        let key = Array("spool-test-pipeline-\(UInt64.random(in: 0...UInt64.max))".utf8)
        var commands: [[[UInt8]]] = []
        for index in 0..<500 { commands.append([Array("RPUSH".utf8), key, Array(String(index).utf8)]) }
        let replies = try await connection.pipeline(commands)
        #expect(replies == (1...500).map { RESPValue.integer(Int64($0)) })
        let concurrent = try await withThrowingTaskGroup(of: (Int, RESPValue).self) { group in
            for index in 0..<50 {
                group.addTask { (index, try await connection.send([Array("LINDEX".utf8), key, Array(String(index).utf8)])) }
            }
            var all: [Int: RESPValue] = [:]
            for try await (index, value) in group { all[index] = value }
            return all
        }
        #expect((0..<50).allSatisfy { concurrent[$0]?.string == String($0) })
        _ = try await connection.send([Array("DEL".utf8), key])
        #expect(try await connection.send("NOSUCHCOMMAND") == .error("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "))
    }

    @Test("an ACL user logs in with its password (HELLO 3 AUTH); a wrong password is refused")
    func authentication() async throws {
        let url = try RedisURL(try RedisTestServer.requireURL())
        let admin = try await RESPConnection.connect(to: url.endpoint, timeout: .seconds(5))
        defer { admin.close() }
        let user = "spool-test-\(UInt64.random(in: 0...UInt64.max))"
        #expect(try await admin.send("ACL", "SETUSER", user, "on", ">s3cret", "~*", "+@all") == .simpleString(Array("OK".utf8)))
        do {
            let storage = try RedisStorage(
                url: "redis://\(user):s3cret@\(url.endpoint.host):\(url.endpoint.port)/1",
                configuration: .init(namespace: RedisTestServer.namespace("acl")))
            try await RedisTestServer.running(storage) { storage in
                let job = NewJob(kind: "k", payload: JobPayload(bytes: []), runAt: Date(), createdAt: Date())
                _ = try await storage.enqueue([job], whenFull: .fail, now: Date())
                #expect(try await storage.job(job.id)?.state == .available)
                try await storage.dropNamespace()
            }
            var wrong = url.endpoint
            wrong.user = user
            wrong.password = "not-the-password"
            let error = await #expect(throws: RedisReplyError.self) {
                let connection = try await RESPConnection.connect(to: wrong, timeout: .seconds(5))
                connection.close()
            }
            #expect(error?.code == "WRONGPASS")
            // The storage's run() gives up at once on a refused login (no endless retry).
            let refused = try RedisStorage(
                url: "redis://\(user):nope@\(url.endpoint.host):\(url.endpoint.port)/0",
                configuration: .init(namespace: RedisTestServer.namespace("acl"), maintenance: nil)
            )
            let startError = await #expect(throws: SpoolError.self) { try await refused.run() }
            #expect(startError?.code == .storageUnavailable && startError?.message.contains("nope") == false)
        } catch {
            _ = try? await admin.send("ACL", "DELUSER", user)
            throw error
        }
        _ = try await admin.send("ACL", "DELUSER", user)
    }

    @Test("scripts are reloaded after SCRIPT FLUSH (NOSCRIPT)")
    func noscript() async throws {
        try await RedisTestServer.withStorage { storage in
            let job = NewJob(kind: "k", payload: JobPayload(bytes: []), runAt: Date(), createdAt: Date())
            _ = try await storage.enqueue([job], whenFull: .fail, now: Date())
            _ = try await storage.pool.send([Array("SCRIPT".utf8), Array("FLUSH".utf8)])
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 5)], worker: "w", lease: .seconds(30)), now: Date())
            #expect(claimed.map(\.id) == [job.id])
        }
    }

    @Test("an enqueue in one process wakes a worker waiting in another (through the wake-up list)")
    func crossProcessWakeup() async throws {
        let namespace = RedisTestServer.namespace("wake")
        let url = try RedisTestServer.requireURL()
        // The waiter polls only once an hour: only the wake-up list can end its wait early.
        let waiter = try RedisStorage(
            url: url, configuration: .init(namespace: namespace, pollInterval: .seconds(3600), startTimeout: .seconds(30)))
        try await RedisTestServer.running(waiter) { waiter in
            try await RedisTestServer.withStorage(namespace: namespace) { other in
                let clock = ManualClock(start: Date())
                let woke = EventRecorder<Bool>()
                // The listeners are the server's bookkeeping, announced to no one: a poll.
                try await Expectation.poll(every: .milliseconds(10), timeout: .seconds(10), "the waiter's listener registers") {
                    let members = try await other.pool.send([Array("ZCARD".utf8), Array("{\(namespace)}:listeners".utf8)])
                    return members.int ?? 0 >= 2  // both processes listen
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await waiter.waitForWork(queues: ["default"], deadline: clock.now.addingTimeInterval(3600), clock: clock)
                        woke.record(true)
                    }
                    // Parked: asleep on the manual clock once it has checked for work and found none.
                    try await clock.waitForSleepers(atLeast: 1)
                    #expect(woke.count == 0, "nothing to do yet: the waiter is still waiting")
                    _ = try await other.enqueue(
                        [NewJob(kind: "k", payload: JobPayload(bytes: []), runAt: clock.now, createdAt: clock.now)], whenFull: .fail,
                        now: clock.now
                    )
                    try await woke.waitForCount(1, timeout: .seconds(5))
                    group.cancelAll()
                }
            }
        }
    }

    @Test("extreme priorities keep their order and their exact value; huge claim limits are capped")
    func extremes() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let (lowest, highest) = (JobInput.priorityRange.lowerBound, JobInput.priorityRange.upperBound)
            let jobs = [lowest, 0, highest, -5].map {
                NewJob(kind: "k", payload: JobPayload(bytes: []), priority: $0, runAt: now, createdAt: now)
            }
            _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: .max)], worker: "w", lease: .seconds(30)), now: now
            )
            #expect(claimed.map(\.priority) == [highest, 0, -5, lowest])
            #expect(try await storage.job(jobs[0].id)?.priority == lowest)
        }
    }

    @Test("operations fail with storageUnavailable when the server cannot be reached")
    func unreachable() async throws {
        let storage = try RedisStorage(
            url: "redis://127.0.0.1:1/0", configuration: .init(connectTimeout: .milliseconds(200), startTimeout: .milliseconds(300)))
        let error = await #expect(throws: SpoolError.self) {
            _ = try await storage.job(JobID())
        }
        #expect(error?.code == .storageUnavailable)
    }
}
