import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer
import Testing

/// Claims the next job of `queue` and finishes it as dead, as a worker would.
func makeDead(_ storage: MemoryStorage, queue: String = "default") async throws -> JobID {
    let claimed = try await storage.claim(
        ClaimRequest(demands: [QueueDemand(queue: queue, limit: 1)], worker: "test-worker", lease: .seconds(30)), now: Date()
    )
    let job = try #require(claimed.first)
    let error = JobAttemptError(attempt: 1, at: Date(), message: "boom", reason: "permanent")
    let lost = try await storage.finish([JobCompletion(id: job.id, outcome: .dead(error: error), at: Date())], worker: "test-worker").lost
    #expect(lost.isEmpty)
    return job.id
}

@Suite("Jobs API")
struct JobRoutesTests {
    @Test func enqueueAnswers202AndTheJobShowsItsFields() async throws {
        try await withClient(makeServer()) { client async throws in
            let body =
                #"{"kind": "mail.send", "payload": {"b": 1.50, "a": [1, 2e3, "é\n"]}, "queue": "mail", "priority": 3, "max_attempts": 4, "timeout_s": 2.5, "unique_key": "u-1"}"#
            let created = try await client.call(.post, "/v1/jobs", body: body)
            #expect(created.status == .accepted)
            #expect(created.contentType == "application/json")
            let id = try #require(created["id"]?.stringValue)
            #expect(created["state"]?.stringValue == "available")
            #expect(JobID(id) != nil)

            let shown = try await client.call(.get, "/v1/jobs/\(id)")
            #expect(shown.status == .ok)
            #expect(shown["kind"]?.stringValue == "mail.send")
            #expect(shown["queue"]?.stringValue == "mail")
            #expect(shown["priority"]?.intValue == 3)
            #expect(shown["max_attempts"]?.intValue == 4)
            #expect(shown["attempt"]?.intValue == 0)
            #expect(shown["timeout_s"]?.doubleValue == 2.5)
            #expect(shown["unique_key"]?.stringValue == "u-1")
            #expect(shown["errors"]?.arrayValue?.isEmpty == true)
            #expect(shown["result"]?.isNull == true)
            // The payload comes back as sent: member order and number digits kept.
            #expect(shown.text.contains(#""payload":{"b":1.50,"a":[1,2e3,"é\n"]}"#))
            let created_at = try #require(shown["created_at"]?.stringValue)
            #expect(created_at.hasSuffix("Z") && created_at.contains("."), "RFC 3339 UTC with milliseconds: \(created_at)")
        }
    }

    @Test func payloadsNestAsDeepAsTheOneLimitAndNoDeeper() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let limit = JSONParser.maximumDepth
            // The body's object is one level; its payload may nest the rest.
            let deepest = String(repeating: "[", count: limit - 1) + String(repeating: "]", count: limit - 1)
            let created = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k", "payload": \#(deepest)}"#)
            #expect(created.status == .accepted)
            let shown = try await client.call(.get, "/v1/jobs/\(created["id"]?.stringValue ?? "")")
            #expect(shown.text.contains(#""payload":\#(deepest),"#))

            let refused = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k", "payload": [\#(deepest)]}"#)
            #expect(refused.status == .badRequest)
            #expect(
                refused["detail"]?.stringValue
                    == "the request body is not valid JSON: arrays and objects nested deeper than 512 levels at byte 536")

            // Stored through the library (whose payload codec allows the same depth), deeper than
            // the old API limit of 64: shown as JSON, not as a string of its text.
            let payload = String(repeating: #"{"a":"#, count: limit) + "1" + String(repeating: "}", count: limit)
            let job = NewJob(kind: "k", payload: JobPayload(bytes: Array(payload.utf8)), runAt: Date(), createdAt: Date())
            _ = try await storage.enqueue([job], whenFull: .wait, now: Date())
            let library = try await client.call(.get, "/v1/jobs/\(job.id)")
            #expect(library.text.contains(#""payload":\#(payload),"#))
        }
    }

    @Test func runAtAndDelaySchedule() async throws {
        try await withClient(makeServer()) { client async throws in
            let at = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k", "run_at": "2999-01-01T00:00:00+02:00"}"#)
            #expect(at.status == .accepted)
            #expect(at["state"]?.stringValue == "scheduled")
            let shown = try await client.call(.get, "/v1/jobs/\(at["id"]?.stringValue ?? "")")
            #expect(shown["run_at"]?.stringValue == "2998-12-31T22:00:00.000Z")

            let delayed = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k", "delay_s": 60}"#)
            #expect(delayed["state"]?.stringValue == "scheduled")
            let now = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k", "delay_s": 0, "payload": null}"#)
            #expect(now["state"]?.stringValue == "available")
            let nullPayload = try await client.call(.get, "/v1/jobs/\(now["id"]?.stringValue ?? "")")
            #expect(nullPayload["payload"]?.isNull == true)
        }
    }

    @Test func aLiveUniqueKeyAnswers409WithTheExistingJob() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let body = #"{"kind": "report", "unique_key": "daily-2026-11-22"}"#
            let first = try await client.call(.post, "/v1/jobs", body: body)
            #expect(first.status == .accepted)
            let second = try await client.call(.post, "/v1/jobs", body: body)
            #expect(second.status == .conflict)
            #expect(second.contentType == "application/problem+json")
            #expect(second["id"] == first["id"])
            #expect(second["state"]?.stringValue == "available")
            #expect(second["type"]?.stringValue == "urn:spool:problem:unique-key-conflict")
            #expect(second["status"]?.intValue == 409)
        }
        #expect(try await storage.stats().count(.available) == 1)
    }

    @Test func aBatchAnswersOneEntryPerJob() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let body =
                #"{"jobs": [{"kind": "a"}, {"kind": "b", "queue": "other"}, {"kind": "c", "unique_key": "x"}, {"kind": "c", "unique_key": "x"}]}"#
            let reply = try await client.call(.post, "/v1/jobs/batch", body: body)
            #expect(reply.status == .accepted)
            let entries = try #require(reply["jobs"]?.arrayValue)
            #expect(entries.count == 4)
            #expect(entries.map { $0["existing"]?.boolValue } == [false, false, false, true])
            #expect(entries[3]["id"] == entries[2]["id"])
            for entry in entries.prefix(3) {
                let shown = try await client.call(.get, "/v1/jobs/\(entry["id"]?.stringValue ?? "")")
                #expect(shown.status == .ok)
            }
        }
        #expect(try await storage.stats().count(.available) == 3)
    }

    @Test func aBadJobRefusesTheWholeBatch() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let reply = try await client.call(
                .post, "/v1/jobs/batch", body: #"{"jobs": [{"kind": "a"}, {"kind": "b", "priority": "high"}]}"#)
            #expect(reply.status == .badRequest)
            #expect(reply["field"]?.stringValue == "jobs[1].priority")
            #expect(reply["detail"]?.stringValue == "field 'jobs[1].priority' must be an integer (got a string)")
            for (body, field) in [
                (#"{"jobs": []}"#, "jobs"), (#"{"jobs": {}}"#, "jobs"), (#"{}"#, "jobs"), (#"{"jobs": [1]}"#, "jobs[0]"),
                (#"{"jobs": [{"kind": "a"}], "extra": 1}"#, "extra"),
            ] {
                let bad = try await client.call(.post, "/v1/jobs/batch", body: body)
                #expect(bad.status == .badRequest, "\(body)")
                #expect(bad["field"]?.stringValue == field, "\(body): \(bad.text)")
            }
        }
        #expect(try await storage.stats().queues.isEmpty, "nothing of a refused batch is stored")
    }

    @Test func listingPagesNewestFirstAndFilters() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            var ids: [String] = []
            for index in 0..<7 {
                let queue = index.isMultiple(of: 2) ? "even" : "odd"
                let reply = try await client.call(.post, "/v1/jobs", body: #"{"kind": "k\#(index % 3)", "queue": "\#(queue)"}"#)
                ids.append(try #require(reply["id"]?.stringValue))
            }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let reply = try await client.call(.get, "/v1/jobs?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(reply.status == .ok)
                let jobs = try #require(reply["jobs"]?.arrayValue)
                #expect(jobs.count <= 3)
                seen += jobs.compactMap { $0["id"]?.stringValue }
                cursor = reply["next_cursor"]?.stringValue
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == ids.reversed(), "every job once, newest first")

            let odd = try await client.call(.get, "/v1/jobs?queue=odd")
            #expect(odd["jobs"]?.arrayValue?.count == 3)
            let kind = try await client.call(.get, "/v1/jobs?kind=k0&queue=even")
            #expect(kind["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[6], ids[0]])

            _ = try await makeDead(storage, queue: "even")
            let dead = try await client.call(.get, "/v1/jobs?state=dead,cancelled")
            #expect(dead["jobs"]?.arrayValue?.count == 1)
            #expect(dead["jobs"]?.arrayValue?.first?["last_error"]?["message"]?.stringValue == "boom")
            let available = try await client.call(.get, "/v1/jobs?state=available&limit=500")
            #expect(available["jobs"]?.arrayValue?.count == 6)
            #expect(available["next_cursor"]?.isNull == true)
        }
    }

    @Test func retryCancelAndDeleteFollowTheStateMachine() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let id = try #require(try await client.call(.post, "/v1/jobs", body: #"{"kind": "k"}"#)["id"]?.stringValue)
            let early = try await client.call(.post, "/v1/jobs/\(id)/retry")
            #expect(early.status == .conflict)
            #expect(early["state"]?.stringValue == "available")
            #expect(early["detail"]?.stringValue == "job \(id) is available: only dead or cancelled jobs can be retried")

            let cancelled = try await client.call(.post, "/v1/jobs/\(id)/cancel")
            #expect(cancelled.status == .ok)
            #expect(cancelled["state"]?.stringValue == "cancelled")
            let again = try await client.call(.post, "/v1/jobs/\(id)/cancel")
            #expect(again.status == .conflict)

            let retried = try await client.call(.post, "/v1/jobs/\(id)/retry")
            #expect(retried.status == .ok)
            #expect(retried["state"]?.stringValue == "available")

            let deadID = try await makeDead(storage)
            #expect(deadID.description == id)
            let shown = try await client.call(.get, "/v1/jobs/\(id)")
            #expect(shown["state"]?.stringValue == "dead")
            #expect(shown["errors"]?.arrayValue?.map { $0["reason"]?.stringValue } == ["cancelled", "permanent"])
            #expect(shown["finished_at"]?.stringValue != nil)
            #expect(try await client.call(.post, "/v1/jobs/\(id)/retry")["state"]?.stringValue == "available")

            let deleted = try await client.call(.delete, "/v1/jobs/\(id)")
            #expect(deleted.status == .noContent)
            #expect(try await client.call(.get, "/v1/jobs/\(id)").status == .notFound)
            #expect(try await client.call(.delete, "/v1/jobs/\(id)").status == .notFound)
            #expect(try await client.call(.post, "/v1/jobs/\(id)/retry").status == .notFound)
            #expect(try await client.call(.post, "/v1/jobs/\(id)/cancel").status == .notFound)
        }
    }
}

@Suite("Queues, stats, health and metrics")
struct QueueRoutesTests {
    @Test func queuesShowCountsAndPauseState() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            _ = try await client.call(
                .post, "/v1/jobs/batch", body: #"{"jobs": [{"kind": "a"}, {"kind": "a"}, {"kind": "b", "queue": "mail", "delay_s": 30}]}"#)
            let paused = try await client.call(.post, "/v1/queues/idle/pause")
            #expect(paused.status == .ok)
            #expect(paused["paused"]?.boolValue == true)
            #expect(paused["name"]?.stringValue == "idle")
            #expect(try await storage.pausedQueues() == ["idle"])

            let queues = try await client.call(.get, "/v1/queues")
            let list = try #require(queues["queues"]?.arrayValue)
            #expect(list.compactMap { $0["name"]?.stringValue } == ["default", "idle", "mail"])
            #expect(list[0]["counts"]?["available"]?.intValue == 2)
            #expect(list[0]["counts"]?["dead"]?.intValue == 0)
            #expect(list[0]["total"]?.intValue == 2)
            #expect(list[1]["paused"]?.boolValue == true)
            #expect(list[2]["counts"]?["scheduled"]?.intValue == 1)

            let resumed = try await client.call(.post, "/v1/queues/idle/resume")
            #expect(resumed["paused"]?.boolValue == false)
            #expect(try await storage.pausedQueues().isEmpty)

            let stats = try await client.call(.get, "/v1/stats")
            #expect(stats.status == .ok)
            #expect(stats["total"]?.intValue == 3)
            #expect(stats["counts"]?["available"]?.intValue == 2)
            #expect(stats["counts"]?["scheduled"]?.intValue == 1)
            #expect(stats["queues"]?["mail"]?["scheduled"]?.intValue == 1)
            #expect(stats["paused_queues"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func queueLimitsAreSetShownAndChecked() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let set = try await client.call(.put, "/v1/queues/mail/limits", body: #"{"max_running": 5, "rate": "100/1m"}"#)
            #expect(set.status == .ok)
            #expect(set["limits"]?["max_running"]?.intValue == 5)
            #expect(set["limits"]?["rate"]?.stringValue == "100/1m")
            #expect(try await storage.queueLimits() == ["mail": QueueLimits(maxRunning: 5, rate: .init(count: 100, period: .seconds(60)))])

            let queues = try await client.call(.get, "/v1/queues")
            let mail = try #require(queues["queues"]?.arrayValue?.first { $0["name"]?.stringValue == "mail" })
            #expect(mail["limits"]?["max_running"]?.intValue == 5, "a limited queue is listed even without jobs")
            #expect(mail["limits"]?["rate"]?.stringValue == "100/1m")

            let rateOnly = try await client.call(.put, "/v1/queues/mail/limits", body: #"{"rate": "5/30s"}"#)
            #expect(rateOnly["limits"]?["max_running"] == JSONValue.null, "a field left out is no limit")
            #expect(try await storage.queueLimits()["mail"] == QueueLimits(rate: .init(count: 5, period: .seconds(30))))

            for (body, field) in [
                (#"{"max_running": 0}"#, "max_running"), (#"{"rate": "ten per minute"}"#, "rate"), (#"{"rate": "10/1y"}"#, "rate"),
                (#"{"rate": "0/1m"}"#, "rate"), (#"{"speed": 3}"#, "speed"),
            ] {
                let bad = try await client.call(.put, "/v1/queues/mail/limits", body: body)
                #expect(bad.status == .badRequest, "\(body)")
                #expect(bad["field"]?.stringValue == field, "\(body): \(bad.text)")
            }
            #expect(
                try await storage.queueLimits()["mail"] == QueueLimits(rate: .init(count: 5, period: .seconds(30))),
                "a refused change changes nothing")

            let cleared = try await client.call(.put, "/v1/queues/mail/limits", body: "{}")
            #expect(cleared.status == .ok)
            #expect(try await storage.queueLimits().isEmpty)
        }
    }

    @Test func healthChecksTheStore() async throws {
        try await withClient(makeServer()) { client async throws in
            let reply = try await client.call(.get, "/healthz")
            #expect(reply.status == .ok)
            #expect(reply["status"]?.stringValue == "ok")
            #expect(reply["storage"]?.stringValue == "ok")
        }
        try await withClient(makeServer(BrokenStorage())) { client async throws in
            let reply = try await client.call(.get, "/healthz")
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.contentType == "application/problem+json")
            #expect(reply.headers[.retryAfter] == "1")
            let stats = try await client.call(.get, "/v1/stats")
            #expect(stats.status == .serviceUnavailable)
            #expect(stats["detail"]?.stringValue == "the test store is broken")
        }
    }

    @Test func metricsShowQueueDepthByState() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            _ = try await client.call(
                .post, "/v1/jobs/batch", body: #"{"jobs": [{"kind": "a", "queue": "q"}, {"kind": "a", "queue": "q"}]}"#)
            _ = try await client.call(.post, "/v1/queues/q/pause")
            let reply = try await client.call(.get, "/metrics")
            #expect(reply.status == .ok)
            #expect(reply.contentType?.hasPrefix("text/plain") == true)
            #expect(reply.text.contains(#"spool_queue_depth{queue="q",state="available"} 2"#), "\(reply.text)")
            #expect(reply.text.contains(#"spool_queue_depth{queue="q",state="dead"} 0"#))
            #expect(reply.text.contains(#"spool_queue_paused{queue="q"} 1"#))

            // The depth is read at each scrape.
            _ = try await client.call(.post, "/v1/queues/q/resume")
            _ = try await makeDead(storage, queue: "q")
            let later = try await client.call(.get, "/metrics")
            #expect(later.text.contains(#"spool_queue_depth{queue="q",state="available"} 1"#))
            #expect(later.text.contains(#"spool_queue_depth{queue="q",state="dead"} 1"#))
            #expect(later.text.contains(#"spool_queue_paused{queue="q"} 0"#))
        }
    }
}
