import Foundation
import Spool
import SpoolRedis
import Subprocess
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

    static func configuration(
        namespace: String, poolSize: Int = 4, maintenance: RedisStorage.Configuration.Maintenance? = nil
    ) -> RedisStorage.Configuration {
        RedisStorage.Configuration(
            namespace: namespace, poolSize: poolSize, pollInterval: .milliseconds(200), startTimeout: .seconds(30), maintenance: maintenance
        )
    }

    /// Runs `body` with a running storage on a fresh namespace, then drops the namespace and
    /// stops the storage (a failed test leaves its keys for inspection).
    static func withStorage<T: Sendable>(
        namespace: String = namespace(), url: String? = nil, poolSize: Int = 4,
        maintenance: RedisStorage.Configuration.Maintenance? = nil,
        _ body: @Sendable (RedisStorage) async throws -> T
    ) async throws -> T {
        let storage = try RedisStorage(
            url: try url ?? requireURL(),
            configuration: configuration(namespace: namespace, poolSize: poolSize, maintenance: maintenance)
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

extension RedisTestServer {
    /// The test's own `scripts/redis`, found from this file's path.
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/redis").path
    }

    /// Runs `scripts/redis COMMAND DIR` through swift-subprocess and returns what it printed on
    /// standard output (`start` prints the server's URL).
    ///
    /// The script starts with an empty signal mask and default signal handlers, and inherits no
    /// descriptor of ours beyond its standard ones (swift-subprocess does both): the server it
    /// starts holds no pipe of another child open. Its exit is awaited as an event;
    /// after 120 s it is SIGKILLed and the test fails.
    @discardableResult
    static func runScript(_ command: String, dir: String) async throws -> String {
        let script = self.script
        let run = try await withThrowingTaskGroup(of: (status: TerminationStatus, stdout: String, stderr: String)?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .path("/bin/bash"), arguments: [script, command, dir], output: .string(limit: .max), error: .string(limit: .max)
                )
                return (result.terminationStatus, result.standardOutput, result.standardError)
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(120))
                return nil
            }
            // Cancelling the run at the deadline SIGKILLs the script (swift-subprocess's teardown).
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        let done = try #require(run, "scripts/redis \(command) \(dir) took longer than 120 s")
        try #require(done.status.isSuccess, "scripts/redis \(command) \(dir) failed (\(done.status)): \(done.stderr)")
        return done.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `body` with the URL of a Redis server of its own (started with `scripts/redis
    /// start` in a new folder, stopped and deleted afterwards), for tests that restart it.
    static func withPrivateServer<T: Sendable>(_ body: (_ url: String, _ dir: String) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-redis-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dir = folder + "/server"
        let url = try await runScript("start", dir: dir)
        try #require(url.hasPrefix("redis://"), "scripts/redis start printed no URL: '\(url)'")
        do {
            let value = try await body(url, dir)
            try await runScript("stop", dir: dir)
            return value
        } catch {
            _ = try? await runScript("stop", dir: dir)
            throw error
        }
    }
}
