import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer
import Testing

@Suite("Bad input gets a clear answer")
struct ErrorTests {
    /// Sends `body` to `POST /v1/jobs` and expects a 400 problem naming `field` (nil: no field).
    static func expectBadRequest(
        _ client: any TestClientProtocol, _ body: String, field: String?, detail: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let reply = try await client.call(.post, "/v1/jobs", body: body)
        #expect(reply.status == .badRequest, "\(body) → \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.contentType == "application/problem+json", sourceLocation: sourceLocation)
        #expect(reply["status"]?.intValue == 400, sourceLocation: sourceLocation)
        #expect(reply["title"]?.stringValue != nil, sourceLocation: sourceLocation)
        #expect(reply["field"]?.stringValue == field, "\(body) → \(reply.text)", sourceLocation: sourceLocation)
        if let detail {
            #expect(reply["detail"]?.stringValue == detail, sourceLocation: sourceLocation)
        }
    }

    @Test func malformedJSONSaysWhere() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let reply = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a",}"#)
            #expect(reply.status == .badRequest)
            #expect(reply["type"]?.stringValue == "urn:spool:problem:malformed-json")
            #expect(reply["detail"]?.stringValue == "the request body is not valid JSON: expected a member name in quotes at byte 13")
            try await Self.expectBadRequest(client, "", field: nil, detail: "the request body is empty: send a JSON object")
            try await Self.expectBadRequest(client, "[1]", field: nil, detail: "the request body must be a JSON object (got an array)")
            try await Self.expectBadRequest(client, String(repeating: "[", count: 10_000), field: nil)
            try await Self.expectBadRequest(client, #"{"kind": "a"} x"#, field: nil)
        }
        #expect(try await storage.stats().queues.isEmpty)
    }

    @Test func eachBadFieldIsNamed() async throws {
        try await withClient(makeServer()) { client async throws in
            let cases: [(String, String, String)] = [
                (#"{}"#, "kind", "field 'kind' is required: the registered job name, a non-empty string"),
                (#"{"kind": ""}"#, "kind", "field 'kind' must not be empty"),
                (#"{"kind": 3}"#, "kind", "field 'kind' must be a string (got a number)"),
                (#"{"kind": "a", "queue": ""}"#, "queue", "field 'queue' must not be empty"),
                (#"{"kind": "a", "priority": 1.5}"#, "priority", "field 'priority' must be an integer (got 1.5)"),
                (#"{"kind": "a", "max_attempts": 0}"#, "max_attempts", "field 'max_attempts' must be at least 1 (got 0)"),
                (#"{"kind": "a", "timeout_s": 0}"#, "timeout_s", "field 'timeout_s' must be more than zero seconds (got 0)"),
                (#"{"kind": "a", "delay_s": -1}"#, "delay_s", "field 'delay_s' must be zero or more seconds (got -1)"),
                (#"{"kind": "a", "delay_s": "5"}"#, "delay_s", "field 'delay_s' must be a number of seconds (got a string)"),
                (
                    #"{"kind": "a", "run_at": "tomorrow"}"#, "run_at",
                    "field 'run_at' must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got 'tomorrow')"
                ),
                (
                    #"{"kind": "a", "run_at": "2030-01-01T00:00:00Z", "delay_s": 1}"#, "delay_s",
                    "field 'delay_s' cannot be given with run_at: give one or the other"
                ),
                (
                    #"{"kind": "a", "runAt": "2030-01-01T00:00:00Z"}"#, "runAt",
                    "field 'runAt' is not a known field (known: kind, payload, queue, priority, run_at, delay_s, unique_key, max_attempts, timeout_s, metadata, depends_on, on_dependency_failure, batch)"
                ),
                (#"{"kind": "a", "kind": "b"}"#, "kind", "field 'kind' appears twice"),
                (
                    #"{"kind": "\#(String(repeating: "k", count: 256))"}"#, "kind",
                    "field 'kind' must be at most 255 characters (Unicode code points) long (got 256)"
                ),
            ]
            for (body, field, detail) in cases {
                try await Self.expectBadRequest(client, body, field: field, detail: detail)
            }
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage) { $0.bodyLimit = 1024 }
        try await withClient(server) { client async throws in
            let big = #"{"kind": "a", "payload": ""# + String(repeating: "x", count: 2000) + #""}"#
            let reply = try await client.call(.post, "/v1/jobs", body: big)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.contentType == "application/problem+json")
            #expect(reply["limit_bytes"]?.intValue == 1024)
            #expect(reply["detail"]?.stringValue == "the request body exceeds the limit of 1024 bytes")

            // Without a Content-Length (a streamed body) the limit holds while reading.
            let streamed = try await client.execute(
                uri: "/v1/jobs/batch", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: big)
            )
            #expect(streamed.status == .contentTooLarge)

            let small = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a"}"#)
            #expect(small.status == .accepted)
        }
        #expect(try await storage.stats().count(.available) == 1)
    }

    @Test func theDefaultLimitIsOneMebibyte() async throws {
        #expect(SpoolServer.Configuration().bodyLimit == 1 << 20)
        try await withClient(makeServer()) { client async throws in
            let payload = String(repeating: "x", count: 1 << 20)
            let reply = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a", "payload": ""# + payload + #""}"#)
            #expect(reply.status == .contentTooLarge)
            let fits = String(repeating: "x", count: (1 << 20) - 100)
            let accepted = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a", "payload": ""# + fits + #""}"#)
            #expect(accepted.status == .accepted)
        }
    }

    @Test func unknownJobsAndRoutesAre404() async throws {
        try await withClient(makeServer()) { client async throws in
            let unknown = try await client.call(.get, "/v1/jobs/\(JobID())")
            #expect(unknown.status == .notFound)
            #expect(unknown["type"]?.stringValue == "urn:spool:problem:job-not-found")
            let malformed = try await client.call(.get, "/v1/jobs/not-an-id")
            #expect(malformed.status == .notFound)
            #expect(malformed["detail"]?.stringValue == "no job has id not-an-id")
            let route = try await client.call(.get, "/v2/nothing")
            #expect(route.status == .notFound)
            #expect(route.contentType == "application/problem+json")
            #expect(route["detail"]?.stringValue == "no route for GET /v2/nothing")
        }
    }

    @Test func badListParametersAre400() async throws {
        try await withClient(makeServer()) { client async throws in
            for (query, parameter) in [
                ("state=finished", "state"), ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"),
                ("cursor=nope", "cursor"),
            ] {
                let reply = try await client.call(.get, "/v1/jobs?\(query)")
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply["parameter"]?.stringValue == parameter, "\(query): \(reply.text)")
            }
        }
    }

    @Test func aFullBoundedQueueIs503WithRetryAfter() async throws {
        let storage = MemoryStorage(capacity: 2)
        try await withClient(makeServer(storage)) { client async throws in
            for _ in 0..<2 {
                #expect(try await client.call(.post, "/v1/jobs", body: #"{"kind": "a"}"#).status == .accepted)
            }
            let full = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a"}"#)
            #expect(full.status == .serviceUnavailable)
            #expect(full.headers[.retryAfter] == "1")
            #expect(full.contentType == "application/problem+json")
            #expect(full["type"]?.stringValue == "urn:spool:problem:queue-full")
            #expect(full["detail"]?.stringValue == "queue 'default' is full: it holds its capacity of 2 waiting jobs")
            #expect(full["retry_after_s"]?.intValue == 1)
            // Another queue still has room.
            #expect(try await client.call(.post, "/v1/jobs", body: #"{"kind": "a", "queue": "b"}"#).status == .accepted)
        }
        #expect(try await storage.stats().count(.available, queue: "default") == 2)
    }

    @Test func aBatchIntoAFullQueueSaysWhatWasStored() async throws {
        let storage = MemoryStorage(capacity: 2)
        try await withClient(makeServer(storage)) { client async throws in
            let reply = try await client.call(.post, "/v1/jobs/batch", body: #"{"jobs": [{"kind": "a"}, {"kind": "b"}, {"kind": "c"}]}"#)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.headers[.retryAfter] == "1")
            let stored = try #require(reply["stored"]?.arrayValue)
            let count = try await storage.stats().count(.available)
            #expect(stored.count == count)
            for entry in stored {
                let id = try #require(entry["id"]?.stringValue)
                #expect(try await client.call(.get, "/v1/jobs/\(id)").status == .ok)
            }
        }
    }
}

@Suite("Tokens")
struct AuthTests {
    static let admin = "admin-secret"
    static let reader = "read-secret"

    static func server(_ storage: MemoryStorage = MemoryStorage()) -> SpoolServer {
        makeServer(storage) {
            $0.adminToken = admin
            $0.readToken = reader
        }
    }

    @Test func noTokenIs401() async throws {
        try await withClient(Self.server()) { client async throws in
            for (method, path) in [(HTTPRequest.Method.get, "/v1/jobs"), (.post, "/v1/jobs"), (.get, "/metrics"), (.get, "/v1/stats")] {
                let reply = try await client.call(method, path, body: method == .post ? #"{"kind": "a"}"# : nil)
                #expect(reply.status == .unauthorized, "\(method) \(path)")
                #expect(reply.headers[.wwwAuthenticate] == "Bearer realm=\"spool\"")
                #expect(reply.contentType == "application/problem+json")
            }
            let wrong = try await client.call(.get, "/v1/jobs", token: "guess")
            #expect(wrong.status == .unauthorized)
            #expect(wrong["detail"]?.stringValue == "the bearer token is not valid for this server")
            let basic = try await client.execute(uri: "/v1/jobs", method: .get, headers: [.authorization: "Basic YTpi"])
            #expect(basic.status == .unauthorized)
        }
    }

    @Test func theReadTokenReadsButCannotWrite() async throws {
        let storage = MemoryStorage()
        try await withClient(Self.server(storage)) { client async throws in
            #expect(try await client.call(.get, "/v1/jobs", token: Self.reader).status == .ok)
            #expect(try await client.call(.get, "/v1/queues", token: Self.reader).status == .ok)
            #expect(try await client.call(.get, "/metrics", token: Self.reader).status == .ok)
            for (method, path) in [
                (HTTPRequest.Method.post, "/v1/jobs"), (.post, "/v1/jobs/batch"), (.post, "/v1/queues/q/pause"),
                (.delete, "/v1/jobs/\(JobID())"), (.post, "/v1/jobs/\(JobID())/retry"),
            ] {
                let reply = try await client.call(method, path, body: #"{"kind": "a"}"#, token: Self.reader)
                #expect(reply.status == .forbidden, "\(method) \(path)")
                #expect(reply["type"]?.stringValue == "urn:spool:problem:forbidden")
            }
        }
        #expect(try await storage.stats().queues.isEmpty)
        #expect(try await storage.pausedQueues().isEmpty)
    }

    @Test func theAdminTokenDoesEverything() async throws {
        try await withClient(Self.server()) { client async throws in
            let created = try await client.call(.post, "/v1/jobs", body: #"{"kind": "a"}"#, token: Self.admin)
            #expect(created.status == .accepted)
            let id = created["id"]?.stringValue ?? ""
            #expect(try await client.call(.get, "/v1/jobs/\(id)", token: Self.admin).status == .ok)
            #expect(try await client.call(.post, "/v1/jobs/\(id)/cancel", token: Self.admin).status == .ok)
            #expect(try await client.call(.delete, "/v1/jobs/\(id)", token: Self.admin).status == .noContent)
        }
    }

    @Test func healthAndTheDocumentNeedNoToken() async throws {
        try await withClient(Self.server()) { client async throws in
            #expect(try await client.call(.get, "/healthz").status == .ok)
            #expect(try await client.call(.get, "/openapi.json").status == .ok)
        }
    }

    @Test func withoutTokensEverythingIsAllowedOnLoopbackOnly() async throws {
        try await withClient(makeServer()) { client async throws in
            #expect(try await client.call(.post, "/v1/jobs", body: #"{"kind": "a"}"#).status == .accepted)
        }
        let open = SpoolServer.Configuration(host: "0.0.0.0")
        #expect(!open.requiresToken)
        #expect(open.effectiveHost == "127.0.0.1")
        let guarded = SpoolServer.Configuration(host: "0.0.0.0", adminToken: "x")
        #expect(guarded.effectiveHost == "0.0.0.0")
        #expect(SpoolServer.Configuration(host: "0.0.0.0", adminToken: "").effectiveHost == "127.0.0.1", "an empty token is no token")
    }

    @Test func tokensCompareExactly() {
        #expect(AuthMiddleware<BasicRequestContext>.constantTimeEquals("abc", "abc"))
        #expect(!AuthMiddleware<BasicRequestContext>.constantTimeEquals("abc", "abd"))
        #expect(!AuthMiddleware<BasicRequestContext>.constantTimeEquals("abc", "abcd"))
        #expect(!AuthMiddleware<BasicRequestContext>.constantTimeEquals("", "a"))
    }
}

@Suite("Payload checks")
struct PayloadValidationTests {
    struct NotANumber: Error, CustomStringConvertible {
        var description: String { "'n' must be a number" }
    }

    @Test func aRefusedPayloadIs400NamingThePayload() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage) {
            $0.validatePayload = { kind, payload in
                if kind == "math.double", !String(decoding: payload, as: UTF8.self).contains("\"n\":") { throw NotANumber() }
            }
        }
        try await withClient(server) { client async throws in
            let bad = try await client.call(.post, "/v1/jobs", body: #"{"kind": "math.double", "payload": {"m": 1}}"#)
            #expect(bad.status == .badRequest)
            #expect(bad["field"]?.stringValue == "payload")
            #expect(bad["detail"]?.stringValue == "field 'payload' does not fit kind 'math.double': 'n' must be a number")
            let batch = try await client.call(.post, "/v1/jobs/batch", body: #"{"jobs": [{"kind": "other"}, {"kind": "math.double"}]}"#)
            #expect(batch["field"]?.stringValue == "jobs[1].payload")
            let good = try await client.call(.post, "/v1/jobs", body: #"{"kind": "math.double", "payload": {"n": 1}}"#)
            #expect(good.status == .accepted)
        }
        #expect(try await storage.stats().count(.available) == 1)
    }
}
