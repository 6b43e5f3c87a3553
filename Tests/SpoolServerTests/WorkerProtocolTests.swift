import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
import SpoolTesting
import Testing
@testable import SpoolServer

/// The worker protocol under `/v1/worker/`: claims with long-polling, heartbeats, outcomes
/// with the lease rules and the retry decision of a Swift worker.
@Suite("worker protocol", .timeLimit(.minutes(1)))
struct WorkerProtocolTests {
    static func enqueue(_ client: any TestClientProtocol, _ body: String) async throws -> String {
        let reply = try await client.call(.post, "/v1/jobs", body: body)
        #expect(reply.status == .accepted, "\(reply.text)")
        return try #require(reply["id"]?.stringValue)
    }

    @Test("claim hands out due jobs once, by priority, with payload, attempt and lease")
    func claimHandsOutJobsOnce() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client in
            let low = try await Self.enqueue(client, #"{"kind": "k", "payload": {"n": 1}}"#)
            let high = try await Self.enqueue(client, #"{"kind": "k", "payload": {"n": 2}, "priority": 5}"#)
            _ = try await Self.enqueue(client, #"{"kind": "k", "delay_s": 3600}"#)
            let first = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "a", "queues": ["default"], "limit": 10}"#)
            #expect(first.status == .ok, "\(first.text)")
            let jobs = try #require(first["jobs"]?.arrayValue)
            #expect(jobs.map { $0["id"]?.stringValue } == [high, low], "priority first; the delayed job is not due")
            #expect(jobs.first?["payload"]?.normalized == .object([("n", .number("2"))]))
            #expect(jobs.first?["attempt"]?.intValue == 1)
            #expect(jobs.first?["lease_expires_at"]?.stringValue != nil)
            let again = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "b", "queues": ["default"], "limit": 10}"#)
            #expect(again["jobs"]?.arrayValue?.isEmpty == true, "claimed jobs are not handed out twice")
            let highID = try #require(JobID(high))
            let record = try #require(try await storage.job(highID))
            #expect(record.state == .running && record.leaseOwner == "a")
        }
    }

    @Test("a long-polling claim answers as soon as a job is enqueued")
    func longPollWakesOnEnqueue() async throws {
        // The claim's wait runs on a clock that moves only when told: once the claim sleeps on
        // it, it has found nothing and waits; only the enqueue can answer it.
        let clock = ManualClock()
        let server = SpoolServer(storage: MemoryStorage(), configuration: SpoolServer.Configuration(port: 0), clock: clock)
        try await withClient(server) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let reply = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "a", "queues": ["q"], "wait_s": 30}"#)
                    #expect(reply["jobs"]?.arrayValue?.count == 1, "\(reply.text)")
                }
                try await clock.waitForSleepers(atLeast: 1)
                _ = try await Self.enqueue(client, #"{"kind": "k", "queue": "q"}"#)
                try await group.waitForAll()
                #expect(clock.sleeperCount == 0, "answered at the enqueue, with the wait's 30 s still to run")
            }
        }
        try await withClient(makeServer(MemoryStorage())) { client in
            // An empty queue answers empty after the wait.
            let empty = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "a", "queues": ["none"], "wait_s": 0.05}"#)
            #expect(empty.status == .ok && empty["jobs"]?.arrayValue?.isEmpty == true, "\(empty.text)")
        }
    }

    @Test("finish stores results and failures: retry while attempts remain, dead when permanent or out of attempts")
    func finishDecidesLikeAWorker() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client in
            let ok = try await Self.enqueue(client, #"{"kind": "k"}"#)
            let retried = try await Self.enqueue(client, #"{"kind": "k", "max_attempts": 3}"#)
            let permanent = try await Self.enqueue(client, #"{"kind": "k", "max_attempts": 3}"#)
            let last = try await Self.enqueue(client, #"{"kind": "k", "max_attempts": 1}"#)
            let claim = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "w", "queues": ["default"], "limit": 10}"#)
            #expect(claim["jobs"]?.arrayValue?.count == 4)
            let body = """
                {"worker": "w", "results": [
                  {"id": "\(ok)", "status": "succeeded", "result": {"sum": 3}},
                  {"id": "\(retried)", "status": "failed", "error": "timeout talking to the mail server", "retry_in_s": 60},
                  {"id": "\(permanent)", "status": "failed", "error": "no such user", "permanent": true},
                  {"id": "\(last)", "status": "failed", "error": "boom"}
                ]}
                """
            let finished = try await client.call(.post, "/v1/worker/finish", body: body)
            #expect(finished.status == .ok, "\(finished.text)")
            #expect(finished["stored"]?.arrayValue?.count == 4 && finished["lost"]?.arrayValue?.isEmpty == true, "\(finished.text)")

            func record(_ text: String) async throws -> JobRecord {
                let id = try #require(JobID(text))
                return try #require(try await storage.job(id))
            }
            let succeeded = try await record(ok)
            #expect(succeeded.state == .succeeded)
            #expect(succeeded.result.map { String(decoding: $0, as: UTF8.self) } == #"{"sum":3}"#)
            let retry = try await record(retried)
            #expect(retry.state == .scheduled && retry.lastError?.message == "timeout talking to the mail server")
            #expect(retry.runAt.timeIntervalSinceNow > 50, "retried after retry_in_s")
            #expect(try await record(permanent).state == .dead)
            #expect(try await record(last).state == .dead, "out of attempts")
        }
    }

    @Test("outcomes and heartbeats of a lease that is not held are reported lost, and nothing changes")
    func lostLeases() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client in
            let id = try await Self.enqueue(client, #"{"kind": "k"}"#)
            _ = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "owner", "queues": ["default"]}"#)
            let beat = try await client.call(.post, "/v1/worker/heartbeat", body: #"{"worker": "thief", "ids": [""# + id + #""]}"#)
            #expect(beat["lost"]?.arrayValue?.first?.stringValue == id && beat["extended"]?.arrayValue?.isEmpty == true, "\(beat.text)")
            for status in ["succeeded", "failed"] {
                let body = #"{"worker": "thief", "results": [{"id": ""# + id + #"", "status": ""# + status + #""}]}"#
                let reply = try await client.call(.post, "/v1/worker/finish", body: body)
                #expect(reply["lost"]?.arrayValue?.first?.stringValue == id, "\(reply.text)")
            }
            let jobID = try #require(JobID(id))
            let record = try #require(try await storage.job(jobID))
            #expect(record.state == .running && record.leaseOwner == "owner")
            let own = try await client.call(
                .post, "/v1/worker/heartbeat", body: #"{"worker": "owner", "ids": [""# + id + #""], "lease_s": 120}"#)
            #expect(own["extended"]?.arrayValue?.first?.stringValue == id, "\(own.text)")
        }
    }

    @Test(
        "bad requests name the field",
        arguments: [
            ("/v1/worker/claim", #"{"queues": ["q"]}"#, "worker"),
            ("/v1/worker/claim", #"{"worker": "w", "queues": []}"#, "queues"),
            ("/v1/worker/claim", #"{"worker": "w", "queues": ["q"], "limit": 501}"#, "limit"),
            ("/v1/worker/claim", #"{"worker": "w", "queues": ["q"], "wait_s": 61}"#, "wait_s"),
            ("/v1/worker/claim", #"{"worker": "w", "queues": ["q"], "colour": 1}"#, "colour"),
            ("/v1/worker/heartbeat", #"{"worker": "w", "ids": [1]}"#, "ids[0]"),
            ("/v1/worker/finish", #"{"worker": "w", "results": [{"id": "x", "status": "succeeded"}]}"#, "results[0].id"),
            (
                "/v1/worker/finish", #"{"worker": "w", "results": [{"id": "01KAPG3Z2M0000000000000001", "status": "done"}]}"#,
                "results[0].status"
            ),
        ])
    func badRequests(path: String, body: String, field: String) async throws {
        try await withClient(makeServer(MemoryStorage())) { client in
            let reply = try await client.call(.post, path, body: body)
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply["field"]?.stringValue == field, "\(reply.text)")
        }
    }
}
