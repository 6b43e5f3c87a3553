import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer
import SpoolTesting
import Testing

@Suite("Batches and dependencies over HTTP")
struct BatchRoutesTests {
    /// Claims every job of `queue` over the worker protocol and reports each as succeeded.
    func runAll(_ client: any TestClientProtocol, queue: String) async throws -> [String] {
        let claimed = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "w", "queues": ["\#(queue)"], "limit": 50}"#)
        let ids = claimed["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        let results = ids.map { #"{"id": "\#($0)", "status": "succeeded"}"# }.joined(separator: ",")
        if !ids.isEmpty {
            let finished = try await client.call(.post, "/v1/worker/finish", body: #"{"worker": "w", "results": [\#(results)]}"#)
            #expect(finished.status == .ok, "\(finished.text)")
        }
        return ids
    }

    @Test("a batch over HTTP: created with callbacks, counted as its jobs finish, its callback enqueued once with the batch named")
    func batchLifecycle() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client in
            let body = #"""
                {"jobs": [{"kind": "row", "queue": "import", "payload": {"line": 1}}, {"kind": "row", "queue": "import", "payload": {"line": 2}}],
                 "on_success": {"kind": "report", "queue": "mail"}, "on_dead": {"kind": "alarm", "queue": "mail"}}
                """#
            let created = try await client.call(.post, "/v1/batches", body: body)
            #expect(created.status == .accepted, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            #expect(created["jobs"]?.arrayValue?.count == 2)
            let before = try await client.call(.get, "/v1/batches/\(id)")
            #expect(before["state"]?.stringValue == "running")
            #expect(before["total"]?.intValue == 2)
            #expect(before["counts"]?["available"]?.intValue == 2)
            #expect(before["callbacks"]?["on_success"]?.isNull == true, "not fired yet: \(before.text)")
            #expect(before["callbacks"]?["on_complete"] == nil, "no on_complete was given")

            #expect(try await runAll(client, queue: "import").count == 2)
            let after = try await client.call(.get, "/v1/batches/\(id)")
            #expect(after["state"]?.stringValue == "succeeded", "\(after.text)")
            #expect(after["counts"]?["succeeded"]?.intValue == 2)
            let report = try #require(after["callbacks"]?["on_success"]?.stringValue)
            let job = try await client.call(.get, "/v1/jobs/\(report)")
            #expect(job["kind"]?.stringValue == "report")
            #expect(job["metadata"]?["spool.batch"]?.stringValue == id)
            #expect(job["metadata"]?["spool.batch_event"]?.stringValue == "success")
            let list = try await client.call(.get, "/v1/batches")
            #expect(list["batches"]?.arrayValue?.first?["id"]?.stringValue == id)
            #expect(try await runAll(client, queue: "mail") == [report], "one callback, once")
        }
    }

    @Test("depends_on over HTTP: the dependent is pending, shows its dependency, and runs after it")
    func dependenciesOverHTTP() async throws {
        try await withClient(makeServer(MemoryStorage())) { client in
            let first = try await client.call(.post, "/v1/jobs", body: #"{"kind": "resize", "queue": "img"}"#)
            let firstID = try #require(first["id"]?.stringValue)
            let second = try await client.call(
                .post, "/v1/jobs",
                body: #"{"kind": "upload", "queue": "img", "depends_on": ["\#(firstID)"], "on_dependency_failure": "run"}"#)
            #expect(second.status == .accepted, "\(second.text)")
            #expect(second["state"]?.stringValue == "pending")
            let secondID = try #require(second["id"]?.stringValue)
            let shown = try await client.call(.get, "/v1/jobs/\(secondID)")
            #expect(shown["depends_on"]?.arrayValue?.compactMap(\.stringValue) == [firstID])
            #expect(shown["on_dependency_failure"]?.stringValue == "run")
            #expect(try await runAll(client, queue: "img") == [firstID], "only the first is claimable")
            #expect(try await runAll(client, queue: "img") == [secondID], "then the second")

            let bad = try await client.call(.post, "/v1/jobs", body: #"{"kind": "x", "depends_on": ["nope"]}"#)
            #expect(bad.status == .badRequest)
            #expect(bad["field"]?.stringValue == "depends_on[0]", "\(bad.text)")
            let odd = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "x", "depends_on": ["\#(firstID)"], "on_dependency_failure": "maybe"}"#)
            #expect(odd["field"]?.stringValue == "on_dependency_failure", "\(odd.text)")
        }
    }

    @Test("on a driver without batches: creating one is a 422 naming the field; there is nothing to read")
    func driverWithoutBatches() async throws {
        try await withClient(makeServer(RecordingStorage())) { client in
            let created = try await client.call(.post, "/v1/batches", body: #"{"jobs": [{"kind": "a"}]}"#)
            #expect(created.status == .unprocessableContent, "\(created.text)")
            #expect(created["detail"]?.stringValue?.hasPrefix("batch:") == true, "\(created.text)")
            let dependent = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a", "depends_on": ["\#(JobID())"]}"#)
            #expect(dependent.status == .unprocessableContent, "\(dependent.text)")
            #expect(try await client.call(.get, "/v1/batches")["batches"]?.arrayValue?.isEmpty == true)
            #expect(try await client.call(.get, "/v1/batches/\(JobID())").status == .notFound)
        }
    }

    @Test(
        "the dashboard: a batch in the list, its page with progress, counts, callbacks and jobs, its cancel; a job's batch and dependencies"
    )
    func dashboardPages() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage)
        try await withClient(server) { client in
            let created = try await client.call(
                .post, "/v1/batches",
                body:
                    #"{"jobs": [{"kind": "row", "queue": "q"}, {"kind": "row", "queue": "q"}], "on_complete": {"kind": "done", "queue": "cb"}}"#
            )
            let id = try #require(created["id"]?.stringValue)
            let first = try #require(created["jobs"]?.arrayValue?.first?["id"]?.stringValue)
            let dependent = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "after", "queue": "q2", "depends_on": ["\#(first)"]}"#)
            let dependentID = try #require(dependent["id"]?.stringValue)

            let list = try await client.page("/batches")
            #expect(list.text.contains(#"href="/batches/\#(id)""#), "\(list.text.prefix(300))")
            #expect(list.text.contains("<progress"))
            let page = try await client.page("/batches/\(id)")
            #expect(page.text.contains("0 of 2 jobs finished"), "\(page.text)")
            #expect(page.text.contains("on_complete") && page.text.contains("not fired"))
            #expect(page.text.contains(#"href="/jobs/\#(first)""#))
            #expect(page.text.contains(#"action="/batches/\#(id)/cancel""#))
            let job = try await client.page("/jobs/\(first)")
            #expect(job.text.contains(#"href="/batches/\#(id)""#), "the job links its batch")
            let waiting = try await client.page("/jobs/\(dependentID)")
            #expect(waiting.text.contains(#"href="/jobs/\#(first)""#), "a dependent links what it waits for")
            #expect(waiting.text.contains(#"class="badge pending""#))

            let cancelled = try await client.post("/batches/\(id)/cancel", form: [("csrf", server.formToken)])
            #expect(cancelled.status == .seeOther)
            #expect(cancelled.headers[.location]?.hasPrefix("/batches/\(id)?notice=Cancelled%202%20job") == true, "\(cancelled.headers)")
            let after = try await client.page("/batches/\(id)")
            #expect(after.text.contains("2 of 2 jobs finished") && after.text.contains(">cancelled<"), "\(after.text)")
            #expect(try await storage.job(try #require(JobID(dependentID)))?.state == .cancelled, "its dependent in cascade")
            #expect(try await client.page("/batches/\(JobID())").status == .notFound)
        }
        try await withClient(makeServer(RecordingStorage())) { client in
            let page = try await client.page("/batches")
            #expect(page.text.contains("does not keep batches"))
        }
    }
}
