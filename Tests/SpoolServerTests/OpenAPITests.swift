import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer
import Synchronization
import Testing

/// Checks answers against the served OpenAPI document: the status is documented for the
/// operation, the content type too, and the body has every required field, recursively.
struct OpenAPIChecker: Sendable {
    let document: JSONValue

    init(_ document: JSONValue) {
        self.document = document
    }

    /// Follows `$ref`s within the document.
    func resolve(_ value: JSONValue) -> JSONValue? {
        var value = value
        var hops = 0
        while let ref = value["$ref"]?.stringValue {
            guard ref.hasPrefix("#/"), hops < 10 else { return nil }
            var node = document
            for part in ref.dropFirst(2).split(separator: "/") {
                guard let next = node[String(part)] else { return nil }
                node = next
            }
            value = node
            hops += 1
        }
        return value
    }

    /// What is wrong with `reply` as an answer of `method template`.
    func problems(_ reply: Reply, method: HTTPRequest.Method, template: String) -> [String] {
        let name = "\(method.rawValue) \(template) \(reply.status.code)"
        guard let operation = document["paths"]?[template]?[method.rawValue.lowercased()] else {
            return ["\(name): operation not documented"]
        }
        guard let documented = operation["responses"]?[String(reply.status.code)], let response = resolve(documented) else {
            return ["\(name): status not documented"]
        }
        var problems: [String] = []
        if case .object(let headers)? = response["headers"] {
            for (header, spec) in headers where spec["required"]?.boolValue == true {
                if reply.headers[HTTPField.Name(header)!] == nil { problems.append("\(name): missing header \(header)") }
            }
        }
        guard let content = response["content"] else {
            if !reply.text.isEmpty { problems.append("\(name): a body where none is documented") }
            return problems
        }
        let mediaType = (reply.contentType ?? "").split(separator: ";").first.map(String.init) ?? ""
        guard let media = content[mediaType] else {
            return problems + ["\(name): content type '\(mediaType)' not documented"]
        }
        if mediaType.hasSuffix("json"), let schema = media["schema"] {
            guard let json = reply.json else { return problems + ["\(name): body is not JSON"] }
            problems += validate(json, schema, at: name + " $")
        }
        return problems
    }

    /// What is wrong with `value` under `schema`: types, enums, required members, closed objects.
    func validate(_ value: JSONValue, _ schema: JSONValue, at path: String) -> [String] {
        guard let schema = resolve(schema) else { return ["\(path): unresolvable $ref"] }
        var problems: [String] = []
        for part in schema["allOf"]?.arrayValue ?? [] {
            problems += validate(value, part, at: path)
        }
        if let options = schema["oneOf"]?.arrayValue, !options.contains(where: { validate(value, $0, at: path).isEmpty }) {
            problems.append("\(path): matches none of oneOf")
        }
        if let type = schema["type"] {
            let types = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
            guard types.contains(where: { Self.matches(value, $0) }) else {
                return problems + ["\(path): \(value.typeName), expected \(types.joined(separator: " or "))"]
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            problems.append("\(path): \(value.rendered) not in \(JSONValue.array(options).rendered)")
        }
        if case .object(let members) = value {
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where value[required] == nil {
                problems.append("\(path): missing required '\(required)'")
            }
            for (key, member) in members {
                if let property = schema["properties"]?[key] {
                    problems += validate(member, property, at: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append("\(path): undocumented member '\(key)'")
                    } else if case .object = additional {
                        problems += validate(member, additional, at: "\(path).\(key)")
                    }
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() {
                problems += validate(item, itemSchema, at: "\(path)[\(index)]")
            }
        }
        return problems
    }

    static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number):
            return true
        case ("integer", .number(let text)):
            return Int(text) != nil
        default:
            return false
        }
    }

    /// Every documented `METHOD template status`.
    var documentedResponses: Set<String> {
        guard case .object(let paths)? = document["paths"] else { return [] }
        var all = Set<String>()
        for (template, item) in paths {
            guard case .object(let operations) = item else { continue }
            for (method, operation) in operations where method != "parameters" {
                guard case .object(let responses)? = operation["responses"] else { continue }
                for (status, _) in responses { all.insert("\(method.uppercased()) \(template) \(status)") }
            }
        }
        return all
    }
}

/// Sends requests, checks each answer against the document, and records what was covered.
final class ConformanceRun: Sendable {
    let checker: OpenAPIChecker
    let client: any TestClientProtocol
    let covered: Mutex<Set<String>>

    init(checker: OpenAPIChecker, client: any TestClientProtocol, covered: Set<String> = []) {
        self.checker = checker
        self.client = client
        self.covered = Mutex(covered)
    }

    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ template: String, _ uri: String? = nil, body: String? = nil, token: String? = nil,
        contentType: String? = nil, expect status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let reply: Reply
        if let contentType {
            reply = try await send(method, uri ?? template, body: body ?? "", token: token, contentType: contentType)
        } else {
            reply = try await client.call(method, uri ?? template, body: body, token: token)
        }
        #expect(reply.status == status, "\(method) \(uri ?? template): \(reply.text)", sourceLocation: sourceLocation)
        let problems = checker.problems(reply, method: method, template: template)
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
        _ = covered.withLock { $0.insert("\(method.rawValue) \(template) \(reply.status.code)") }
        return reply
    }

    /// Sends `body` with the given `Content-Type` (not the JSON that `call` always declares).
    private func send(_ method: HTTPRequest.Method, _ uri: String, body: String, token: String?, contentType: String) async throws -> Reply
    {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.contentLength] = String(body.utf8.count)
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
        let bytes = Array(response.body.readableBytesView)
        return Reply(
            status: response.status, headers: response.headers, text: String(decoding: bytes, as: UTF8.self),
            json: try? JSONParser.parse(bytes))
    }
}

@Suite("OpenAPI document")
struct OpenAPITests {
    static func servedDocument() async throws -> JSONValue {
        try await withClient(makeServer()) { client async throws in
            let reply = try await client.call(.get, "/openapi.json")
            #expect(reply.status == .ok)
            #expect(reply.contentType == "application/json")
            return try #require(reply.json)
        }
    }

    @Test func theDocumentIsOpenAPI31AndEveryRefResolves() async throws {
        let document = try await Self.servedDocument()
        #expect(document["openapi"]?.stringValue == "3.1.0")
        let checker = OpenAPIChecker(document)
        var unresolved: [String] = []
        func walk(_ value: JSONValue) {
            switch value {
            case .object(let members):
                if let ref = value["$ref"]?.stringValue, checker.resolve(value) == nil { unresolved.append(ref) }
                for (_, member) in members { walk(member) }
            case .array(let items):
                items.forEach(walk)
            default:
                break
            }
        }
        walk(document)
        #expect(unresolved.isEmpty, "\(unresolved)")
    }

    /// Every route, every documented status, each answer checked against the document; then
    /// every documented answer must have been seen.
    @Test func realAnswersMatchTheDocument() async throws {
        let checker = OpenAPIChecker(try await Self.servedDocument())
        let admin = "admin", reader = "reader"
        let storage = MemoryStorage(capacity: 2)
        let server = makeServer(storage) {
            $0.adminToken = admin
            $0.readToken = reader
            $0.bodyLimit = 2048
        }
        let big = #"{"kind": "a", "payload": ""# + String(repeating: "x", count: 4096) + #""}"#
        let covered = try await withClient(server) { client async throws in
            let run = ConformanceRun(checker: checker, client: client)
            // POST /v1/jobs
            try await run.send(.post, "/v1/jobs", body: #"{"kind": "a"}"#, expect: .unauthorized)
            try await run.send(.post, "/v1/jobs", body: #"{"kind": "a"}"#, token: reader, expect: .forbidden)
            try await run.send(.post, "/v1/jobs", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.post, "/v1/jobs", body: "{", token: admin, expect: .badRequest)
            try await run.send(
                .post, "/v1/jobs", body: #"{"kind": "a"}"#, token: admin, contentType: "text/plain", expect: .unsupportedMediaType)
            let first = try await run.send(.post, "/v1/jobs", body: #"{"kind": "a", "unique_key": "u"}"#, token: admin, expect: .accepted)
            try await run.send(.post, "/v1/jobs", body: #"{"kind": "a", "unique_key": "u"}"#, token: admin, expect: .conflict)
            let second = try await run.send(.post, "/v1/jobs", body: #"{"kind": "a", "payload": [1]}"#, token: admin, expect: .accepted)
            try await run.send(.post, "/v1/jobs", body: #"{"kind": "a"}"#, token: admin, expect: .serviceUnavailable)
            let id1 = first["id"]?.stringValue ?? "", id2 = second["id"]?.stringValue ?? ""
            let unknown = JobID().description

            // POST /v1/jobs/batch
            let batch = #"{"jobs": [{"kind": "b", "queue": "other"}]}"#
            try await run.send(.post, "/v1/jobs/batch", body: batch, expect: .unauthorized)
            try await run.send(.post, "/v1/jobs/batch", body: batch, token: reader, expect: .forbidden)
            try await run.send(.post, "/v1/jobs/batch", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.post, "/v1/jobs/batch", body: "{}", token: admin, expect: .badRequest)
            try await run.send(
                .post, "/v1/jobs/batch", body: batch, token: admin, contentType: "application/x-www-form-urlencoded",
                expect: .unsupportedMediaType)
            try await run.send(.post, "/v1/jobs/batch", body: batch, token: admin, expect: .accepted)
            let overflow = #"{"jobs": [{"kind": "c", "queue": "third"}, {"kind": "c", "queue": "third"}, {"kind": "c", "queue": "third"}]}"#
            try await run.send(.post, "/v1/jobs/batch", body: overflow, token: admin, expect: .serviceUnavailable)

            // Dependencies and batches (422: what a request names cannot take it)
            let dangling = #"{"kind": "a", "queue": "deps", "depends_on": [""# + unknown + #""]}"#
            try await run.send(.post, "/v1/jobs", body: dangling, token: admin, expect: .unprocessableContent)
            try await run.send(.post, "/v1/jobs/batch", body: #"{"jobs": ["# + dangling + "]}", token: admin, expect: .unprocessableContent)
            let create = #"{"jobs": [{"kind": "w", "queue": "wf"}], "on_complete": {"kind": "done", "queue": "wf-cb"}}"#
            try await run.send(.post, "/v1/batches", body: create, expect: .unauthorized)
            try await run.send(.post, "/v1/batches", body: create, token: reader, expect: .forbidden)
            try await run.send(.post, "/v1/batches", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.post, "/v1/batches", body: "{}", token: admin, expect: .badRequest)
            try await run.send(.post, "/v1/batches", body: create, token: admin, contentType: "text/plain", expect: .unsupportedMediaType)
            let created = try await run.send(.post, "/v1/batches", body: create, token: admin, expect: .accepted)
            let batchID = created["id"]?.stringValue ?? ""
            let joinUnknown = #"{"jobs": [{"kind": "w", "queue": "wf2", "batch": ""# + unknown + #""}]}"#
            try await run.send(.post, "/v1/batches", body: joinUnknown, token: admin, expect: .unprocessableContent)
            let fill = #"{"jobs": [{"kind": "f", "queue": "full"}, {"kind": "f", "queue": "full"}]}"#
            try await run.send(.post, "/v1/jobs/batch", body: fill, token: admin, expect: .accepted)
            try await run.send(
                .post, "/v1/batches", body: #"{"jobs": [{"kind": "f", "queue": "full"}]}"#, token: admin, expect: .serviceUnavailable)
            try await run.send(.get, "/v1/batches", token: reader, expect: .ok)
            try await run.send(.get, "/v1/batches", expect: .unauthorized)
            try await run.send(.get, "/v1/batches", "/v1/batches?limit=0", token: reader, expect: .badRequest)
            try await run.send(.get, "/v1/batches/{id}", "/v1/batches/\(batchID)", token: reader, expect: .ok)
            try await run.send(.get, "/v1/batches/{id}", "/v1/batches/\(batchID)", expect: .unauthorized)
            try await run.send(.get, "/v1/batches/{id}", "/v1/batches/\(unknown)", token: reader, expect: .notFound)
            try await run.send(.get, "/v1/batches/{id}", "/v1/batches/%FF", token: reader, expect: .badRequest)
            let cancelPath = "/v1/batches/{id}/cancel"
            try await run.send(.post, cancelPath, "/v1/batches/\(batchID)/cancel", expect: .unauthorized)
            try await run.send(.post, cancelPath, "/v1/batches/\(batchID)/cancel", token: reader, expect: .forbidden)
            try await run.send(.post, cancelPath, "/v1/batches/\(unknown)/cancel", token: admin, expect: .notFound)
            try await run.send(.post, cancelPath, "/v1/batches/%FF/cancel", token: admin, expect: .badRequest)
            try await run.send(.post, cancelPath, "/v1/batches/\(batchID)/cancel", token: admin, expect: .ok)
            try await run.send(.get, "/v1/batches/{id}", "/v1/batches/\(batchID)", token: reader, expect: .ok)

            // GET /v1/jobs
            try await run.send(.get, "/v1/jobs", token: reader, expect: .ok)
            try await run.send(.get, "/v1/jobs", "/v1/jobs?state=available&limit=1", token: reader, expect: .ok)
            try await run.send(.get, "/v1/jobs", expect: .unauthorized)
            try await run.send(.get, "/v1/jobs", "/v1/jobs?limit=0", token: reader, expect: .badRequest)

            // GET /v1/jobs/{id}
            try await run.send(.get, "/v1/jobs/{id}", "/v1/jobs/\(id1)", token: reader, expect: .ok)
            try await run.send(.get, "/v1/jobs/{id}", "/v1/jobs/\(id1)", expect: .unauthorized)
            try await run.send(.get, "/v1/jobs/{id}", "/v1/jobs/\(unknown)", token: reader, expect: .notFound)
            // An id whose percent-encoding is not UTF-8 cannot even be read: 400, not 404.
            try await run.send(.get, "/v1/jobs/{id}", "/v1/jobs/%FF", token: reader, expect: .badRequest)

            // cancel and retry
            for action in ["cancel", "retry"] {
                let template = "/v1/jobs/{id}/\(action)"
                try await run.send(.post, template, "/v1/jobs/\(id1)/\(action)", expect: .unauthorized)
                try await run.send(.post, template, "/v1/jobs/\(id1)/\(action)", token: reader, expect: .forbidden)
                try await run.send(.post, template, "/v1/jobs/\(unknown)/\(action)", token: admin, expect: .notFound)
                try await run.send(.post, template, "/v1/jobs/%FF/\(action)", token: admin, expect: .badRequest)
                try await run.send(.post, template, "/v1/jobs/\(id1)/\(action)", token: admin, expect: .ok)
                try await run.send(.post, template, "/v1/jobs/\(id1)/\(action)", token: admin, expect: .conflict)
            }
            _ = try await makeDead(storage)
            try await run.send(.get, "/v1/jobs/{id}", "/v1/jobs/\(id1)", token: reader, expect: .ok)
            try await run.send(.get, "/v1/jobs", "/v1/jobs?state=dead", token: reader, expect: .ok)

            // DELETE /v1/jobs/{id}
            try await run.send(.delete, "/v1/jobs/{id}", "/v1/jobs/\(id2)", expect: .unauthorized)
            try await run.send(.delete, "/v1/jobs/{id}", "/v1/jobs/\(id2)", token: reader, expect: .forbidden)
            try await run.send(.delete, "/v1/jobs/{id}", "/v1/jobs/\(id2)", token: admin, expect: .noContent)
            try await run.send(.delete, "/v1/jobs/{id}", "/v1/jobs/\(id2)", token: admin, expect: .notFound)
            try await run.send(.delete, "/v1/jobs/{id}", "/v1/jobs/%FF", token: admin, expect: .badRequest)

            // Queues
            for action in ["pause", "resume"] {
                let template = "/v1/queues/{name}/\(action)"
                try await run.send(.post, template, "/v1/queues/mail/\(action)", expect: .unauthorized)
                try await run.send(.post, template, "/v1/queues/mail/\(action)", token: reader, expect: .forbidden)
                try await run.send(.post, template, "/v1/queues/mail/\(action)", token: admin, expect: .ok)
                try await run.send(.post, template, "/v1/queues/%01/\(action)", token: admin, expect: .badRequest)
                if action == "pause" { try await run.send(.get, "/v1/queues", token: reader, expect: .ok) }
            }
            try await run.send(.get, "/v1/queues", expect: .unauthorized)
            let limitsPath = "/v1/queues/{name}/limits"
            let limits = #"{"max_running": 2, "rate": "10/1m"}"#
            try await run.send(.put, limitsPath, "/v1/queues/mail/limits", body: limits, expect: .unauthorized)
            try await run.send(.put, limitsPath, "/v1/queues/mail/limits", body: limits, token: reader, expect: .forbidden)
            try await run.send(.put, limitsPath, "/v1/queues/mail/limits", body: #"{"rate": "often"}"#, token: admin, expect: .badRequest)
            try await run.send(
                .put, limitsPath, "/v1/queues/mail/limits", body: "{}", token: admin, contentType: "text/plain",
                expect: .unsupportedMediaType)
            try await run.send(.put, limitsPath, "/v1/queues/mail/limits", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.put, limitsPath, "/v1/queues/mail/limits", body: limits, token: admin, expect: .ok)
            try await run.send(.get, "/v1/queues", token: reader, expect: .ok)

            // The worker protocol: claim the batch job of queue "other", heartbeat, finish.
            let claimBody = #"{"worker": "w1", "queues": ["other"], "limit": 5, "lease_s": 30}"#
            try await run.send(.post, "/v1/worker/claim", body: claimBody, expect: .unauthorized)
            try await run.send(.post, "/v1/worker/claim", body: claimBody, token: reader, expect: .forbidden)
            try await run.send(.post, "/v1/worker/claim", body: #"{"worker": "w1"}"#, token: admin, expect: .badRequest)
            try await run.send(
                .post, "/v1/worker/claim", body: claimBody, token: admin, contentType: "text/plain", expect: .unsupportedMediaType)
            try await run.send(.post, "/v1/worker/claim", body: big, token: admin, expect: .contentTooLarge)
            let claimed = try await run.send(.post, "/v1/worker/claim", body: claimBody, token: admin, expect: .ok)
            let claimedID = claimed["jobs"]?.arrayValue?.first?["id"]?.stringValue ?? ""
            #expect(!claimedID.isEmpty, "\(claimed.text)")
            let beat = #"{"worker": "w1", "ids": [""# + claimedID + #""]}"#
            try await run.send(.post, "/v1/worker/heartbeat", body: beat, expect: .unauthorized)
            try await run.send(.post, "/v1/worker/heartbeat", body: beat, token: reader, expect: .forbidden)
            try await run.send(
                .post, "/v1/worker/heartbeat", body: #"{"worker": "w1", "ids": ["nope"]}"#, token: admin, expect: .badRequest)
            try await run.send(
                .post, "/v1/worker/heartbeat", body: beat, token: admin, contentType: "text/plain", expect: .unsupportedMediaType)
            try await run.send(.post, "/v1/worker/heartbeat", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.post, "/v1/worker/heartbeat", body: beat, token: admin, expect: .ok)
            let done = #"{"worker": "w1", "results": [{"id": ""# + claimedID + #"", "status": "succeeded", "result": {"ok": true}}]}"#
            try await run.send(.post, "/v1/worker/finish", body: done, expect: .unauthorized)
            try await run.send(.post, "/v1/worker/finish", body: done, token: reader, expect: .forbidden)
            try await run.send(
                .post, "/v1/worker/finish", body: #"{"worker": "w1", "results": [{"status": "maybe"}]}"#, token: admin, expect: .badRequest)
            try await run.send(
                .post, "/v1/worker/finish", body: done, token: admin, contentType: "text/plain", expect: .unsupportedMediaType)
            try await run.send(.post, "/v1/worker/finish", body: big, token: admin, expect: .contentTooLarge)
            try await run.send(.post, "/v1/worker/finish", body: done, token: admin, expect: .ok)

            // Stats, health, metrics, the document
            try await run.send(.get, "/v1/stats", token: reader, expect: .ok)
            try await run.send(.get, "/v1/stats", expect: .unauthorized)
            try await run.send(.get, "/healthz", expect: .ok)
            try await run.send(.get, "/metrics", token: reader, expect: .ok)
            try await run.send(.get, "/metrics", expect: .unauthorized)
            try await run.send(.get, "/openapi.json", expect: .ok)
            return run.covered.withLock { $0 }
        }
        let broken = try await withClient(makeServer(BrokenStorage())) { client async throws in
            let run = ConformanceRun(checker: checker, client: client, covered: covered)
            try await run.send(.get, "/healthz", expect: .serviceUnavailable)
            return run.covered.withLock { $0 }
        }
        let missing = checker.documentedResponses.subtracting(broken)
        #expect(missing.isEmpty, "documented but never exercised: \(missing.sorted())")
        let undocumented = broken.subtracting(checker.documentedResponses)
        #expect(undocumented.isEmpty, "answered but not documented: \(undocumented.sorted())")
    }
}
