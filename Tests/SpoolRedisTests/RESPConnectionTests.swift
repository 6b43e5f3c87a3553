import Foundation
import Testing

@testable import SpoolRedis

@Suite("Redis connections, on a private server", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RESPConnectionTests {
    @Test("a command without a reply within the timeout fails and closes its connection", .timeLimit(.minutes(2)))
    func replyTimeout() async throws {
        // A server of its own: CLIENT PAUSE stops every client of the server.
        try await RedisTestServer.withPrivateServer { url, _ in
            let endpoint = try RedisURL(url).endpoint
            let admin = try await RESPConnection.connect(to: endpoint, timeout: .seconds(5))
            defer { admin.close() }
            let client = try await RESPConnection.connect(to: endpoint, timeout: .seconds(5), replyTimeout: .milliseconds(300))
            defer { client.close() }
            #expect(try await client.send("PING") == .simpleString(Array("PONG".utf8)))
            #expect(try await admin.send("CLIENT", "PAUSE", "3000", "ALL") == .simpleString(Array("OK".utf8)))
            let started = ContinuousClock.now
            await #expect(throws: RESPConnectionClosed.self) { _ = try await client.send("PING") }
            #expect(ContinuousClock.now - started < .seconds(2), "failed at the timeout, not when the pause ended")
            #expect(!client.isActive, "the connection is closed")
            _ = try await admin.send("CLIENT", "UNPAUSE")
        }
    }

    @Test("a pool opens one connection per slot, however many callers arrive at once", .timeLimit(.minutes(2)))
    func poolConnectsOncePerSlot() async throws {
        try await RedisTestServer.withPrivateServer { url, _ in
            let endpoint = try RedisURL(url).endpoint
            let observer = try await RESPConnection.connect(to: endpoint, timeout: .seconds(5))
            defer { observer.close() }
            func connectionsReceived() async throws -> Int {
                let text = try await observer.send("INFO", "stats").string ?? ""
                let line = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_connections_received:") }
                return try #require(line.flatMap { Int($0.split(separator: ":")[1]) })
            }
            let before = try await connectionsReceived()
            let pool = RESPConnectionPool(endpoint: endpoint, size: 3, connectTimeout: .seconds(5))
            defer { pool.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        let reply = try await pool.send([Array("PING".utf8)])
                        #expect(reply == .simpleString(Array("PONG".utf8)))
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await connectionsReceived() - before == 3, "one connection per slot")
        }
    }
}
