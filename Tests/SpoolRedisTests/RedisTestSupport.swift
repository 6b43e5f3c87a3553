import Foundation
import Spool
import SpoolRedis
import Testing

/// Where the Redis tests find their server: `SPOOL_TEST_REDIS_URL` (start one with
/// `scripts/redis start DIR`; scripts/test exports it).
///
/// Without it the tests are skipped with a message, unless `SPOOL_REQUIRE_SERVERS=1`, in which
/// case they fail.
enum RedisTestServer {
    static let url = ProcessInfo.processInfo.environment["SPOOL_TEST_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let required = ProcessInfo.processInfo.environment["SPOOL_REQUIRE_SERVERS"] == "1"

    static var enabled: Bool { url != nil || required }
    static let skipMessage: Comment = "SPOOL_TEST_REDIS_URL is not set: start a server with `scripts/redis start DIR` and export its URL"

    static func requireURL() throws -> String {
        guard let url else {
            throw SpoolError(code: .storageUnavailable, message: "SPOOL_REQUIRE_SERVERS=1 but SPOOL_TEST_REDIS_URL is not set")
        }
        return url
    }

    /// A fresh namespace, so tests run in parallel without seeing each other's jobs.
    static func namespace(_ tag: String = "t") -> String {
        "test_\(tag)_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }

    /// Runs `body` with a running storage on a fresh namespace, then drops the namespace and
    /// stops the storage (a failed test leaves its keys for inspection).
    static func withStorage<T: Sendable>(
        namespace: String = namespace(), url: String? = nil, poolSize: Int = 4,
        _ body: @Sendable (RedisStorage) async throws -> T
    ) async throws -> T {
        let storage = try RedisStorage(
            url: try url ?? requireURL(),
            configuration: RedisStorage.Configuration(namespace: namespace, poolSize: poolSize, pollInterval: .milliseconds(200), startTimeout: .seconds(30))
        )
        return try await running(storage) { storage in
            let value = try await body(storage)
            try await storage.dropNamespace()
            return value
        }
    }

    /// Runs `storage` for the duration of `body`.
    static func running<T: Sendable>(_ storage: RedisStorage, _ body: @Sendable (RedisStorage) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await storage.run() }
            do {
                try await storage.waitUntilReady()
                let value = try await body(storage)
                group.cancelAll()
                try? await group.waitForAll()
                return value
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}
