import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer

/// One answer of the server, with its body parsed when it is JSON.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    let json: JSONValue?

    var contentType: String? { headers[.contentType] }

    /// The member `key` of the body.
    subscript(key: String) -> JSONValue? { json?[key] }
}

extension TestClientProtocol {
    /// Sends a request with an optional JSON body and bearer token.
    func call(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, token: String? = nil) async throws -> Reply {
        var headers = HTTPFields()
        if let body {
            headers[.contentType] = "application/json"
            headers[.contentLength] = String(body.utf8.count)
        }
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
        )
        let bytes = Array(response.body.readableBytesView)
        let json = try? JSONParser.parse(bytes)
        return Reply(status: response.status, headers: response.headers, text: String(decoding: bytes, as: UTF8.self), json: json)
    }
}

extension JSONValue {
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value parsed back from its rendering (`raw` members become ordinary values).
    var normalized: JSONValue { (try? JSONParser.parse(bytes)) ?? self }
}

/// A server over `storage` for tests (nothing is bound with the `.router` test framework).
func makeServer(
    _ storage: any JobStorage = MemoryStorage(), registry: JobRegistry = JobRegistry(),
    configure: (inout SpoolServer.Configuration) -> Void = { _ in }
) -> SpoolServer {
    var configuration = SpoolServer.Configuration(port: 0)
    configure(&configuration)
    return SpoolServer(storage: storage, registry: registry, configuration: configuration)
}

/// Runs `body` against `server` through HummingbirdTesting's router framework.
func withClient<T: Sendable>(
    _ server: SpoolServer, _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    try await server.makeApplication().test(.router, body)
}

/// A store that fails every operation, for the health check and 5xx paths.
struct BrokenStorage: JobStorage {
    var error: SpoolError { SpoolError(code: .storageUnavailable, message: "the test store is broken") }

    func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] { throw error }
    func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] { throw error }
    func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport { throw error }
    func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport { throw error }
    func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport { throw error }
    func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {}
    func job(_ id: JobID) async throws -> JobRecord? { throw error }
    func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage { throw error }
    func stats() async throws -> StorageStats { throw error }
    func retry(_ ids: [JobID], now: Date) async throws -> [JobID] { throw error }
    func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] { throw error }
    func delete(_ ids: [JobID]) async throws -> [JobID] { throw error }
    func prune(finishedBefore before: Date, limit: Int) async throws -> Int { throw error }
    func setPaused(_ paused: Bool, queue: String) async throws { throw error }
    func pausedQueues() async throws -> Set<String> { throw error }
    func setLimits(_ limits: QueueLimits, queue: String) async throws { throw error }
    func queueLimits() async throws -> [String: QueueLimits] { throw error }
}
