import EmbeddingExample
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Spool
import SpoolTesting
import Synchronization
import Testing

/// A mailer that records what it sends and, while `held`, makes every send wait.
final class RecordingMailer: Mailer {
    let sent = EventRecorder<String>()
    private let gate = Mutex<[CheckedContinuation<Void, Never>]?>([])

    func sendWelcome(to address: String, userID: Int) async throws {
        await withCheckedContinuation { continuation in
            let wait = gate.withLock { waiting -> Bool in
                guard waiting != nil else { return false }
                waiting!.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
        sent.record(address)
    }

    /// Lets every held and future send through.
    func open() {
        let waiting = gate.withLock { waiting -> [CheckedContinuation<Void, Never>] in
            defer { waiting = nil }
            return waiting ?? []
        }
        for continuation in waiting { continuation.resume() }
    }
}

@Suite("Embedding example (examples/embedding)", .timeLimit(.minutes(1)))
struct SignupAppTests {
    @Test("a route enqueues a typed job: 202 at once, 503 with Retry-After when the bounded queue is full, the worker runs them")
    func signupEnqueuesAndTheWorkerRuns() async throws {
        let mailer = RecordingMailer()
        // One email at a time, two waiting at most.
        let app = try SignupApp(mailer: mailer, capacity: 2, concurrency: 1)
        // The app runs the worker as one of its services (`.live` runs them).
        try await app.application(port: 0).test(.live) { client in
            func signup(_ user: Int) async throws -> TestResponse {
                try await client.execute(
                    uri: "/signup", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"user_id": \#(user), "address": "u\#(user)@example.com"}"#)
                )
            }
            // The first is claimed by the worker (and held by the mailer); two more fill the queue.
            #expect(try await signup(1).status == .accepted)
            // The memory store announces no claim: poll its counts (a spin here would hold a
            // thread of the cooperative pool the worker needs).
            try await Expectation.poll(every: .milliseconds(5), timeout: .seconds(10), "the worker took the first job") {
                try await app.storage.stats().count(.running) == 1
            }
            let second = try await signup(2)
            #expect(second.status == .accepted)
            #expect(try await signup(3).status == .accepted)
            let refused = try await signup(4)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")

            mailer.open()
            let sent = try await mailer.sent.waitForCount(3)
            #expect(Set(sent) == ["u1@example.com", "u2@example.com", "u3@example.com"])
            let id = try #require(String(buffer: second.body).split(separator: "\"").dropFirst(3).first)
            // The mailer has sent it; the worker stores the outcome a moment later (outcomes
            // are written in batches): poll the route until it says so.
            try await Expectation.poll(every: .milliseconds(5), timeout: .seconds(10), "job \(id) succeeded") {
                let job = try await client.execute(uri: "/jobs/\(id)", method: .get)
                return String(buffer: job.body).contains(#""state":"succeeded""#)
            }
            #expect(try await signup(5).status == .accepted, "room again once the queue drained")
            _ = try await mailer.sent.waitForCount(4)
        }
    }

    @Test("Spool's dashboard and API answer under /spool over real HTTP, links included; a job enqueued from a route shows there")
    func dashboardMountedUnderSpool() async throws {
        let mailer = RecordingMailer()
        mailer.open()
        let app = try SignupApp(mailer: mailer)
        let host = HTTPField.Name("Host")!
        try await app.application(port: 0).test(.live) { client in
            let signup = try await client.execute(
                uri: "/signup", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"user_id": 1, "address": "ada@example.com"}"#)
            )
            #expect(signup.status == .accepted)
            let id = try #require(String(buffer: signup.body).split(separator: "\"").dropFirst(3).first)
            // The worker is a service of the application: it runs the job.
            _ = try await mailer.sent.waitForCount(1)

            let overview = try await client.execute(uri: "/spool", method: .get, headers: [host: "localhost"])
            #expect(overview.status == .ok)
            let html = String(buffer: overview.body)
            #expect(html.contains(#"href="/spool/jobs?state=available""#), "\(html.prefix(400))")
            let page = try await client.execute(uri: "/spool/jobs/\(id)", method: .get, headers: [host: "localhost"])
            #expect(String(buffer: page.body).contains("email.welcome"))
            let job = try await client.execute(uri: "/spool/v1/jobs/\(id)", method: .get, headers: [host: "localhost"])
            #expect(String(buffer: job.body).contains(#""state":"succeeded""#), "\(String(buffer: job.body))")
            let foreign = try await client.execute(uri: "/spool/v1/stats", method: .get, headers: [host: "evil.example"])
            #expect(foreign.status == .misdirectedRequest, "with no token, only a loopback Host is answered")
        }
    }

    @Test("with a token, the mounted dashboard and API ask for it; the app's own routes do not")
    func mountedDashboardWithAToken() async throws {
        let app = try SignupApp(mailer: RecordingMailer(), dashboardToken: "sesame")
        try await app.application(port: 0).test(.live) { client in
            #expect(try await client.execute(uri: "/spool/v1/stats", method: .get).status == .unauthorized)
            let stats = try await client.execute(uri: "/spool/v1/stats", method: .get, headers: [.authorization: "Bearer sesame"])
            #expect(stats.status == .ok)
            #expect(try await client.execute(uri: "/jobs/nothing", method: .get).status == .notFound, "the app's route, not Spool's")
        }
    }
}
