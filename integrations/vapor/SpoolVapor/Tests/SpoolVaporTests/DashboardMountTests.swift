import Foundation
import NIOCore
import Spool
import SpoolServer
import SpoolVapor
@testable import SpoolVaporDashboard
import Testing
import Vapor

@Suite("app.spool.mountDashboard: SpoolServer's dashboard and API below a path of a Vapor app")
struct DashboardMountTests {
    @Test("the dashboard page and the API answer through the Vapor app over HTTP")
    func dashboardAndAPIThroughVapor() async throws {
        let storage = MemoryStorage()
        try await withRunningApp { app in
            try app.spool.use(storage)
            try app.spool.mountDashboard(at: "ops/spool")
            app.get("hello") { _ in "hello" }
        } _: { _, port in
            let page = try await send(.GET, "/ops/spool", port: port)
            #expect(page.status == .ok, "\(page.text)")
            #expect(page.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
            #expect(page.text.contains(#"<a class="brand" href="/ops/spool">"#), "links stay below the mount")

            let enqueued = try await send(.POST, "/ops/spool/v1/jobs", port: port, json: #"{"kind": "mail.send", "queue": "q"}"#)
            #expect(enqueued.status == .accepted, "\(enqueued.text)")
            let text = try #require(try enqueued.json()["id"] as? String)
            let id = try #require(JobID(text), "a job id: \(text)")
            #expect(try await storage.job(id)?.queue == "q", "stored through the mount")

            let job = try await send(.GET, "/ops/spool/v1/jobs/\(id)?x=1", port: port)
            #expect(job.status == .ok, "\(job.text)")
            #expect(try job.json()["kind"] as? String == "mail.send")

            let stats = try await send(.GET, "/ops/spool/v1/stats", port: port)
            let counts = try #require(try stats.json()["counts"] as? [String: Any], "\(stats.text)")
            #expect(counts["available"] as? Int == 1, "\(stats.text)")

            let unknown = try await send(.GET, "/ops/spool/v1/nothing-here", port: port)
            #expect(unknown.status == .notFound)
            #expect(unknown.headers.first(name: "Content-Type")?.contains("json") == true, "Spool's own 404: \(unknown.text)")

            let delete = try await send(.DELETE, "/ops/spool/v1/jobs/\(id)", port: port)
            #expect(delete.status.code < 300, "\(delete.status) \(delete.text)")
            #expect(try await storage.job(id) == nil)

            #expect(try await send(.GET, "/hello", port: port).text == "hello", "the app's own routes are untouched")
        }
    }

    @Test("a body past the server's body limit is refused with 413; a bad mount path is refused naming path")
    func limitsAndPaths() async throws {
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            try app.spool.mountDashboard(at: "spool", configuration: SpoolServer.Configuration(bodyLimit: 64))
            let error = try #require(throws: SpoolError.self) { try app.spool.mountDashboard(at: "a/../b") }
            #expect(error.message.hasPrefix("path must be"), "\(error.message)")
        } _: { _, port in
            let big = "{\"kind\": \"k\", \"payload\": \"\(String(repeating: "x", count: 200))\"}"
            let reply = try await send(.POST, "/spool/v1/jobs", port: port, json: big)
            #expect(reply.status == .payloadTooLarge, "\(reply.status) \(reply.text)")
        }
    }

    @Test("with no token, a request whose Host is not loopback is refused, as SpoolServer refuses it")
    func loopbackGuardHolds() async throws {
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            try app.spool.mountDashboard()
        } _: { _, port in
            let reply = try await send(.GET, "/spool/v1/stats", port: port, headers: [("Host", "example.com")])
            #expect(reply.status.code == 421, "\(reply.status) \(reply.text)")
        }
    }

    @Test("with a token configured, the API asks for it (the Authorization header goes through)")
    func tokenIsRequired() async throws {
        try await withRunningApp { app in
            try app.spool.use(MemoryStorage())
            try app.spool.mountDashboard(configuration: SpoolServer.Configuration(adminToken: "s3cret"))
        } _: { _, port in
            #expect(try await send(.GET, "/spool/v1/stats", port: port).status == .unauthorized)
            let reply = try await send(.GET, "/spool/v1/stats", port: port, headers: [("Authorization", "Bearer s3cret")])
            #expect(reply.status == .ok, "\(reply.text)")
        }
    }

    @Test(
        "the connection's peer goes to the mount: with no token another machine gets 403, with a token it is asked for the token",
        arguments: [
            ("10.0.0.1", nil, 403), ("::ffff:10.0.0.1", nil, 403), ("127.0.0.1", nil, 200), ("::1", nil, 200), ("10.0.0.1", "s3cret", 401),
        ]
    )
    func peerReachesTheMount(peer: String, token: String?, status: UInt) async throws {
        let app = try await Application.make(.testing)
        do {
            try app.spool.use(MemoryStorage())
            let mount = try app.spool.mountDashboard(configuration: SpoolServer.Configuration(adminToken: token))
            let request = Request(
                application: app, method: .GET, url: "/spool/v1/stats", headers: ["Host": "localhost"],
                remoteAddress: try SocketAddress(ipAddress: peer, port: 4000), on: app.eventLoopGroup.next())
            let response = await DashboardBridge.respond(to: request, with: mount)
            let body = response.body.string ?? ""
            #expect(response.status.code == status, "\(body)")
            if status == 403 { #expect(body.contains("remote-without-token"), "\(body)") }
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
