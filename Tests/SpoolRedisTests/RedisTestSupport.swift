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

    /// Runs `scripts/redis COMMAND DIR` and waits for it without blocking a thread; returns
    /// what it printed on standard output (`start` prints the server's URL).
    ///
    /// Spawned with `posix_spawn` (stdin and stderr on /dev/null, stdout to a file of its own,
    /// so the server inherits no descriptor of ours) and reaped with a non-blocking `waitpid`
    /// poll, bounded to 120 s.
    @discardableResult
    static func runScript(_ command: String, dir: String) async throws -> String {
        let arguments = ["/bin/bash", script, command, dir]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("spool-redis-script-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, &argv, environ)
        try #require(spawned == 0, "cannot run scripts/redis: error \(spawned)")
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            try #require(reaped == 0, "waitpid failed: \(errno)")
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                Issue.record("scripts/redis \(command) \(dir) took longer than 120 s")
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let exited = (status & 0x7F) == 0
        let code = (status >> 8) & 0xFF
        try #require(exited && code == 0, "scripts/redis \(command) \(dir) failed (wait status \(status))")
        return (try? String(contentsOfFile: output, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
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
