import Foundation
import Testing

@testable import SpoolRedis

@Suite("Redis driver, a hung server", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisHungServerTests {
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
}
