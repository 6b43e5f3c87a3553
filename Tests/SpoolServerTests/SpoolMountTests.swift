import Foundation
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle
import Spool
@testable import SpoolServer
import SpoolTesting
import Testing

@Suite("SpoolServer mounted below a path (SpoolMount)")
struct SpoolMountTests {
    let logger = Logger(label: "test.mount")

    /// One request through the framework-neutral entry, as an adapter sends it.
    func send(
        _ mount: SpoolMount, _ method: HTTPRequest.Method, _ path: String, body: String = "", headers extra: HTTPFields = [:],
        authority: String = "localhost", peer: SocketAddress? = nil
    ) async -> Reply {
        var head = HTTPRequest(method: method, scheme: "http", authority: authority, path: path)
        head.headerFields.append(contentsOf: extra)
        let (response, bytes) = await mount.respond(to: head, body: ByteBuffer(string: body), peer: peer, logger: logger)
        let json = try? JSONParser.parse(Array(bytes.readableBytesView))
        return Reply(
            status: response.status, headers: response.headerFields, text: String(decoding: bytes.readableBytesView, as: UTF8.self),
            json: json
        )
    }

    @Test(
        "a mount path is / or clean segments; anything else is refused naming path",
        arguments: ["spool", "", "/a//b", "/a/../b", "/./a", "/a b", "/a?b", "/ü", "//"])
    func malformedPathsAreRefused(_ path: String) throws {
        let error = try #require(throws: SpoolError.self) { try makeServer().mount(at: path) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.hasPrefix("path must be"), "\(error.message)")
    }

    @Test func pathsAreNormalised() throws {
        #expect(try makeServer().mount(at: "/spool/").path == "/spool")
        #expect(try makeServer().mount(at: "/ops/spool-1").path == "/ops/spool-1")
        #expect(try makeServer().mount(at: "/").path == "")
    }

    @Test("the dashboard's links, forms and redirects stay below the mount path; the API answers under it")
    func dashboardAndAPIBelowThePath() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage)
        let mount = try server.mount(at: "/ops/spool")
        let id = try await store(storage, queue: "q")

        let overview = await send(mount, .get, "/ops/spool")
        #expect(overview.status == .ok)
        #expect(overview.text.contains(#"<a class="brand" href="/ops/spool">"#))
        #expect(overview.text.contains(#"href="/ops/spool/jobs?state=available""#))
        #expect(overview.text.contains(#"action="/ops/spool/queues/pause""#))
        #expect(!overview.text.contains(#"href="/jobs"#) && !overview.text.contains(#"action="/queues"#), "no link leaves the mount")

        let list = await send(mount, .get, "/ops/spool/jobs?queue=q")
        #expect(list.text.contains(#"href="/ops/spool/jobs/\#(id)""#))
        #expect(list.text.contains(#"action="/ops/spool/jobs" class="filters""#))

        let page = await send(mount, .get, "/ops/spool/jobs/\(id)")
        #expect(page.text.contains(#"name="back" value="/ops/spool/jobs/\#(id)""#), "an action comes back to this page")
        let cancelled = await send(
            mount, .post, "/ops/spool/jobs/\(id)/cancel", body: "csrf=\(server.formToken)",
            headers: [.contentType: "application/x-www-form-urlencoded"]
        )
        #expect(cancelled.status == .seeOther)
        #expect(cancelled.headers[.location]?.hasPrefix("/ops/spool/jobs/\(id)?notice=") == true, "\(cancelled.headers) \(cancelled.text)")
        #expect(try await storage.job(id)?.state == .cancelled)

        let enqueued = await send(
            mount, .post, "/ops/spool/v1/jobs", body: #"{"kind": "mail.send", "queue": "q"}"#, headers: [.contentType: "application/json"]
        )
        #expect(enqueued.status == .accepted, "\(enqueued.text)")
        let stats = await send(mount, .get, "/ops/spool/v1/stats")
        #expect(stats.status == .ok)
        #expect(stats["counts"]?["available"]?.intValue == 1, "\(stats.text)")
    }

    @Test("a path outside the mount gets 404, even one that is a route of the server's own")
    func outsideTheMountIsNotFound() async throws {
        let mount = try makeServer().mount(at: "/spool")
        for path in ["/v1/stats", "/spoolx", "/", "/spool-other/v1/stats"] {
            let reply = await send(mount, .get, path)
            #expect(reply.status == .notFound, "\(path)")
            #expect(reply.contentType == "application/problem+json")
        }
        #expect(await send(mount, .get, "/spool?notice=hi").text.contains("hi"), "a query on the mount path itself")
    }

    @Test("the server's rules hold below the mount: a foreign Host without a token, the token and its cookie path")
    func edgesHoldBelowTheMount() async throws {
        let open = try makeServer().mount(at: "/spool")
        let foreign = await send(open, .get, "/spool/v1/stats", authority: "evil.example")
        #expect(foreign.status == .misdirectedRequest)

        let guarded = try makeServer { $0.adminToken = "sesame" }.mount(at: "/spool")
        #expect(await send(guarded, .get, "/spool/v1/stats").status == .unauthorized)
        #expect(await send(guarded, .get, "/spool/v1/stats", headers: [.authorization: "Bearer sesame"]).status == .ok)
        let signIn = await send(guarded, .get, "/spool/jobs?token=sesame&state=dead")
        #expect(signIn.status == .seeOther)
        #expect(signIn.headers[.location] == "/spool/jobs?state=dead")
        #expect(signIn.headers[.setCookie]?.contains("Path=/spool;") == true, "\(signIn.headers)")
    }

    @Test("with no token, a peer from another machine gets 403 whatever its Host; this machine's pass; a token lets others in")
    func peersFromOtherMachines() async throws {
        let open = try makeServer().mount(at: "/spool")
        for address in ["10.1.2.3", "192.168.0.9", "2001:db8::1", "::ffff:10.0.0.1"] {
            let peer = try SocketAddress(ipAddress: address, port: 40_000)
            let reply = await send(open, .get, "/spool/v1/stats", peer: peer)
            #expect(reply.status == .forbidden, "\(address)")
            #expect(reply["type"]?.stringValue == "urn:spool:problem:remote-without-token", "\(reply.text)")
        }
        for address in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            let peer = try SocketAddress(ipAddress: address, port: 40_000)
            #expect(await send(open, .get, "/spool/v1/stats", peer: peer).status == .ok, "\(address)")
        }
        #expect(await send(open, .get, "/spool/v1/stats", peer: try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")).status == .ok)

        let guarded = try makeServer { $0.adminToken = "sesame" }.mount(at: "/spool")
        let remote = try SocketAddress(ipAddress: "10.1.2.3", port: 40_000)
        #expect(await send(guarded, .get, "/spool/v1/stats", peer: remote).status == .unauthorized)
        let allowed = await send(guarded, .get, "/spool/v1/stats", headers: [.authorization: "Bearer sesame"], peer: remote)
        #expect(allowed.status == .ok)
    }

    @Test("mounted at /, links are the server's own")
    func mountedAtTheRoot() async throws {
        let mount = try makeServer().mount(at: "/")
        let overview = await send(mount, .get, "/")
        #expect(overview.text.contains(#"<a class="brand" href="/">"#))
        #expect(overview.text.contains(#"href="/jobs?state=available""#))
    }

    @Test("as a service, the mount samples the charts until graceful shutdown")
    func samplesUntilGracefulShutdown() async throws {
        let storage = RecordingStorage()
        let server = makeServer(storage) { $0.dashboardSampleInterval = .milliseconds(1) }
        let mount = try server.mount(at: "/spool")
        let group = ServiceGroup(configuration: .init(services: [mount], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = try await storage.statsReads.waitForCount(2)
            #expect(server.throughput.since != nil, "a sample was recorded")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
