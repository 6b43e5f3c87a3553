import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Spool
import Testing
@testable import SpoolServer

/// With no token configured, a web page in the operator's browser can neither write through
/// the server nor read it under another name; and `/v1` takes JSON only, tokens or not.
@Suite("Browser safety")
struct BrowserSafetyTests {
    /// An `http` job against a listener on this machine: what a hostile page would enqueue.
    static let webhookJob = #"{"kind": "http", "payload": {"url": "http://127.0.0.1:9/internal", "method": "POST"}}"#

    /// Sends `body` with exactly `headers` (nothing added).
    static func send(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, body: String?, headers: HTTPFields
    ) async throws -> Reply {
        var fields = headers
        if let body { fields[.contentLength] = String(body.utf8.count) }
        let response = try await client.execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
        let bytes = Array(response.body.readableBytesView)
        return Reply(
            status: response.status, headers: response.headers, text: String(decoding: bytes, as: UTF8.self),
            json: try? JSONParser.parse(bytes))
    }

    static func headers(_ pairs: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return fields
    }

    /// A body that is not JSON gets 415 on `/v1`, with or without tokens; nothing is stored.
    @Test(arguments: [false, true])
    func aBodyThatIsNotJSONIs415(withToken: Bool) async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage) { if withToken { $0.adminToken = "secret" } }
        let auth: [(String, String)] = withToken ? [("Authorization", "Bearer secret")] : []
        try await withClient(server) { client in
            let hostile: [(String, [(String, String)], String)] = [
                ("text/plain", [("Content-Type", "text/plain")], Self.webhookJob),
                ("a form", [("Content-Type", "application/x-www-form-urlencoded")], "kind=http&payload=x"),
                ("a multipart form", [("Content-Type", "multipart/form-data; boundary=x")], "--x--"),
                ("no content type", [], Self.webhookJob),
                ("two content types", [("Content-Type", "application/json"), ("Content-Type", "text/plain")], Self.webhookJob),
                ("json as a parameter", [("Content-Type", "text/plain; x=application/json")], Self.webhookJob),
            ]
            for (what, headers, body) in hostile {
                for path in ["/v1/jobs", "/v1/jobs/batch"] {
                    let reply = try await Self.send(client, .post, path, body: body, headers: Self.headers(headers + auth))
                    #expect(reply.status == .unsupportedMediaType, "\(what) to \(path) → \(reply.text)")
                    #expect(reply.contentType == "application/problem+json")
                    #expect(reply["type"]?.stringValue == "urn:spool:problem:unsupported-media-type")
                    #expect(reply["detail"]?.stringValue?.contains("application/json") == true)
                    #expect(reply["accepted"]?.arrayValue?.count == 2)
                }
            }
            // A text/plain body on pause, limits and the worker protocol: refused too.
            for (method, path) in [
                (HTTPRequest.Method.post, "/v1/queues/mail/pause"), (.put, "/v1/queues/mail/limits"), (.post, "/v1/worker/claim"),
            ] {
                let reply = try await Self.send(
                    client, method, path, body: "{}", headers: Self.headers([("Content-Type", "text/plain")] + auth))
                #expect(reply.status == .unsupportedMediaType, "\(path) → \(reply.text)")
            }
            // JSON in its spellings passes; an empty POST needs no Content-Type.
            for type in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.spool+json"] {
                let reply = try await Self.send(
                    client, .post, "/v1/jobs", body: #"{"kind": "ok"}"#, headers: Self.headers([("Content-Type", type)] + auth)
                )
                #expect(reply.status == .accepted, "\(type) → \(reply.text)")
            }
            let pause = try await Self.send(client, .post, "/v1/queues/idle/pause", body: nil, headers: Self.headers(auth))
            #expect(pause.status == .ok)
        }
        let stored = try await storage.jobs(JobFilter(), after: nil, limit: 100).jobs
        #expect(stored.map(\.kind) == ["ok", "ok", "ok", "ok"], "no http job was stored, so no webhook can be called")
        #expect(try await storage.pausedQueues() == ["idle"], "mail was never paused")
    }

    /// With no token, writes from another site's pages get 403, and nothing changes.
    @Test func crossSiteWritesAre403WithoutAToken() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage)
        try await withClient(server) { client in
            let hostile: [[(String, String)]] = [
                [("Origin", "https://evil.example")],
                [("Origin", "http://127.0.0.1.evil.example:8080")],
                [("Origin", "null")],
                [("Sec-Fetch-Site", "cross-site")],
                [("Sec-Fetch-Site", "same-site")],
                [("Origin", "http://localhost:8080"), ("Sec-Fetch-Site", "same-site")],
            ]
            for headers in hostile {
                let json = Self.headers(headers + [("Content-Type", "application/json")])
                let enqueue = try await Self.send(client, .post, "/v1/jobs", body: Self.webhookJob, headers: json)
                #expect(enqueue.status == .forbidden, "\(headers) → \(enqueue.text)")
                #expect(enqueue["type"]?.stringValue == "urn:spool:problem:cross-site")
                let pause = try await Self.send(client, .post, "/v1/queues/mail/pause", body: nil, headers: Self.headers(headers))
                #expect(pause.status == .forbidden)
                let form = try await client.post(
                    "/queues/pause", form: [("csrf", server.formToken), ("queue", "mail")], headers: Self.headers(headers))
                #expect(form.status == .forbidden, "a dashboard form from another site")
                #expect(form.contentType == "text/html; charset=utf-8")
                // Reads stay open: a page cannot read the answer of a cross-site GET anyway.
                let read = try await Self.send(client, .get, "/v1/stats", body: nil, headers: Self.headers(headers))
                #expect(read.status == .ok)
            }
            // The dashboard's own forms, from its own loopback origin, keep working.
            for origin in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
                let own = Self.headers([("Origin", origin), ("Sec-Fetch-Site", "same-origin")])
                let paused = try await client.post("/queues/pause", form: [("csrf", server.formToken), ("queue", "own")], headers: own)
                #expect(paused.status == .seeOther, "\(origin) → \(paused.text)")
            }
        }
        #expect(try await storage.jobs(JobFilter(), after: nil, limit: 10).jobs.isEmpty)
        #expect(try await storage.pausedQueues() == ["own"])
    }

    /// With a token, the token is the guard: an Origin does not matter (415 still does).
    @Test func withATokenOriginsAreLeftToTheToken() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage) { $0.adminToken = "secret" }
        try await withClient(server) { client in
            let headers = Self.headers([
                ("Origin", "https://ci.example"), ("Content-Type", "application/json"), ("Authorization", "Bearer secret"),
            ])
            let reply = try await Self.send(client, .post, "/v1/jobs", body: #"{"kind": "ok"}"#, headers: headers)
            #expect(reply.status == .accepted)
        }
    }

    /// With no token, a `Host` that is not loopback (DNS rebinding) gets 421 on the API and the
    /// dashboard, so the page's form token never leaks; loopback names pass.
    @Test func aForeignHostIs421WithoutAToken() async throws {
        let storage = MemoryStorage()
        try await store(storage, queue: "mail")
        try await withLiveServer(storage) { port in
            for host in ["evil.example", "evil.example:\(port)", "127.0.0.1.nip.io", "localhost.evil.example", "0.0.0.0:\(port)", "[::2]"] {
                for path in ["/v1/jobs", "/", "/jobs"] {
                    let reply = try await RawHTTP.exchange(
                        port: port, ["GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"])
                    #expect(reply.status == 421, "\(host) \(path) → \(reply.received)")
                    #expect(!reply.received.contains("csrf"), "no form token under a foreign name")
                    #expect(!reply.received.contains("mail"), "no data under a foreign name")
                }
            }
            let api = try await RawHTTP.exchange(port: port, ["GET /v1/jobs HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"])
            #expect(api.header("content-type") == "application/problem+json")
            #expect(api.json?["type"]?.stringValue == "urn:spool:problem:host-not-loopback")
            let page = try await RawHTTP.exchange(port: port, ["GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"])
            #expect(page.header("content-type") == "text/html; charset=utf-8")
            // A second Host header cannot smuggle a foreign name past the first.
            let twice = try await RawHTTP.exchange(
                port: port, ["GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"])
            #expect(twice.status == 421 || twice.status == 400, "\(twice.received)")
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST", "127.1.2.3", "[::1]:\(port)"] {
                let reply = try await RawHTTP.exchange(port: port, ["GET /v1/jobs HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"])
                #expect(reply.status == 200, "\(host) → \(reply.received)")
            }
        }
        // With a token, other names are served (the token guards them).
        try await withLiveServer(storage, configure: { $0.readToken = "reader" }) { port in
            let reply = try await RawHTTP.exchange(
                port: port, ["GET /v1/jobs HTTP/1.1\r\nHost: spool.internal\r\nAuthorization: Bearer reader\r\nConnection: close\r\n\r\n"]
            )
            #expect(reply.status == 200, "\(reply.received)")
        }
    }

    @Test func loopbackNamesAndOrigins() {
        typealias Guard = LoopbackGuardMiddleware<BasicRequestContext>
        for good in ["localhost", "localhost:8080", "127.0.0.1", "127.255.0.1:1", "[::1]", "[::1]:65535", "LocalHost:80"] {
            #expect(Guard.isLoopbackAuthority(good), "\(good)")
        }
        for bad in [
            "", "localhost:", "localhost:0x50", "localhost:65536", "127.0.0.256", "127.0.0", "127.0.0.1.", "128.0.0.1", "[::1", "[::1]x",
            "::1", "[::2]", "localhost.", "a.localhost", "evil.example", "127.0.0.1@evil.example", "0177.0.0.1",
        ] {
            #expect(!Guard.isLoopbackAuthority(bad), "\(bad)")
        }
        #expect(Guard.isLoopbackOrigin("http://127.0.0.1:8080"))
        #expect(Guard.isLoopbackOrigin("https://localhost"))
        for bad in [
            "null", "http://evil.example", "file://", "http://127.0.0.1:8080/x", "ftp://localhost", "http://localhost.evil.example",
        ] {
            #expect(!Guard.isLoopbackOrigin(bad), "\(bad)")
        }
    }
}
