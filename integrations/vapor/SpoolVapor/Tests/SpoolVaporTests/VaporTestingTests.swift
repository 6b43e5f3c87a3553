import Spool
import SpoolVapor
import Testing
import Vapor
import VaporTesting

@Suite("Spool with Vapor's own testing API (VaporTesting: app.testing() boots with the blocking boot())")
struct VaporTestingTests {
    @Test("in-process workers start under app.testing() and run the job a route enqueued; asyncShutdown stops them")
    func inProcessWorkersUnderVaporTesting() async throws {
        let sent = Events<String>()
        try await withApp { app in
            try app.spool.use(MemoryStorage())
            app.spool.register(SendEmail.self) { email, _ in sent.record(email.to) }
            try app.spool.startInProcessWorkers()
            app.post("emails") { req async throws -> HTTPStatus in
                try await req.spool.enqueue(try req.content.decode(SendEmail.self))
                return .accepted
            }
        } _: { app in
            try await app.testing().test(
                .POST, "emails", beforeRequest: { request in try request.content.encode(SendEmail(to: "grace@example.com")) },
                afterResponse: { response in #expect(response.status == .accepted) }
            )
            _ = try await sent.first("the email job to run") { $0 == "grace@example.com" }
        }
    }
}
