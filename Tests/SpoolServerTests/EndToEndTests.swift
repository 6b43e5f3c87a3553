import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Spool
@testable import SpoolServer
import Testing

@Suite("End to end")
struct EndToEndTests {
    @Test func aJobEnqueuedOverHTTPRunsOnAWorkerAndShowsItsResult() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(kind: "test.double") { payload, context in
            let value = try payload.decode(as: [String: Int].self)
            context.reportProgress(1, message: "doubled")
            return Array(#"{"doubled":\#((value["n"] ?? 0) * 2)}"#.utf8)
        }
        registry.register(kind: "test.refuse") { _, _ in throw PermanentFailure("refused on purpose") }
        let worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(queues: ["default"], concurrency: 2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            try await withClient(makeServer(storage, registry: registry)) { client async throws in
                let created = try await client.call(.post, "/v1/jobs", body: #"{"kind": "test.double", "payload": {"n": 21}}"#)
                #expect(created.status == .accepted)
                let id = try #require(created["id"]?.stringValue.flatMap { JobID($0) })
                let refused = try await client.call(.post, "/v1/jobs", body: #"{"kind": "test.refuse", "max_attempts": 5}"#)
                let refusedID = try #require(refused["id"]?.stringValue.flatMap { JobID($0) })

                #expect(try await storage.waitForFinish(id)?.state == .succeeded)
                let shown = try await client.call(.get, "/v1/jobs/\(id)")
                #expect(shown["state"]?.stringValue == "succeeded")
                #expect(shown["attempt"]?.intValue == 1)
                #expect(shown["result"]?.normalized == .object([("doubled", .number("42"))]))
                #expect(shown["finished_at"]?.stringValue != nil)

                #expect(try await storage.waitForFinish(refusedID)?.state == .dead)
                let dead = try await client.call(.get, "/v1/jobs/\(refusedID)")
                #expect(dead["state"]?.stringValue == "dead")
                let errors = try #require(dead["errors"]?.arrayValue)
                #expect(errors.count == 1)
                #expect(errors.first?["message"]?.stringValue == "refused on purpose")
                #expect(errors.first?["reason"]?.stringValue == "permanent")

                // Retried over HTTP, it runs again (and fails again).
                #expect(try await client.call(.post, "/v1/jobs/\(refusedID)/retry").status == .ok)
                let again = try #require(try await storage.waitForFinish(refusedID))
                #expect(again.state == .dead)
                #expect(again.errors.count == 2)
            }
            worker.beginShutdown()
            try await group.waitForAll()
        }
    }
}

@Suite("Serving")
struct ServingTests {
    @Test func liveHTTPRoundTrip() async throws {
        let server = makeServer { $0.bodyLimit = 4096 }
        try await server.makeApplication().test(.live) { client async throws in
            let created = try await client.call(.post, "/v1/jobs", body: #"{"kind": "live"}"#)
            #expect(created.status == .accepted)
            let shown = try await client.call(.get, "/v1/jobs/\(created["id"]?.stringValue ?? "")")
            #expect(shown["kind"]?.stringValue == "live")
            let big = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "a", "payload": ""# + String(repeating: "x", count: 8000) + #""}"#)
            #expect(big.status == .contentTooLarge)
            #expect(try await client.call(.get, "/healthz").status == .ok)
        }
    }

    @Test func runsAsAServiceAndShutsDownGracefully() async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = makeServer {
            $0.port = 0
            $0.onServerRunning = { port in continuation.yield(port) }
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            #expect(port > 0)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

@Suite("Server and worker in one service group")
struct ServiceGroupTests {
    /// What `spool serve` runs: the server and a worker under one group, over real HTTP.
    @Test func serveAndWorkThenShutDownGracefully() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(kind: "test.echo") { payload, _ in try payload.encoded() }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = makeServer(storage, registry: registry) {
            $0.port = 0
            $0.onServerRunning = { port in continuation.yield(port) }
        }
        let worker = Worker(storage: storage, registry: registry)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: worker)], logger: Logger(label: "test")
            ))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let base = "http://127.0.0.1:\(port)"

            var post = URLRequest(url: URL(string: "\(base)/v1/jobs")!)
            post.httpMethod = "POST"
            post.setValue("application/json", forHTTPHeaderField: "Content-Type")
            post.httpBody = Data(#"{"kind": "test.echo", "payload": {"hello": "world"}}"#.utf8)
            let (created, createdResponse) = try await URLSession.shared.data(for: post)
            #expect((createdResponse as? HTTPURLResponse)?.statusCode == 202)
            let id = try #require(try JSONParser.parse(Array(created))["id"]?.stringValue.flatMap { JobID($0) })

            #expect(try await storage.waitForFinish(id)?.state == .succeeded)
            let (shown, _) = try await URLSession.shared.data(from: URL(string: "\(base)/v1/jobs/\(id)")!)
            let job = try JSONParser.parse(Array(shown))
            #expect(job["state"]?.stringValue == "succeeded")
            #expect(job["result"]?.normalized == .object([("hello", .string("world"))]))

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// The shared parser and writer are tested in SpoolTests (JSONTests); the API's time format here.
@Suite("RFC 3339")
struct RFC3339Tests {
    @Test func timesAreRFC3339UTCWithMilliseconds() {
        let date = Date(timeIntervalSince1970: 1_795_000_000.125)
        #expect(RFC3339.format(date) == "2026-11-18T11:06:40.125Z")
        #expect(RFC3339.parse("2026-11-18T11:06:40.125Z") == date)
        #expect(RFC3339.parse("2026-11-18T13:06:40+02:00") == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(RFC3339.parse("18/11/2026") == nil)
    }
}
