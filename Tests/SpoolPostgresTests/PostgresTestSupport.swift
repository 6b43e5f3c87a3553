import Foundation
import Logging
import PostgresNIO
import Spool
import SpoolPostgres
import Subprocess
import Testing

/// Where the PostgreSQL tests find their server: `SPOOL_TEST_POSTGRES_URL` (set by
/// `scripts/test`, which starts a throwaway cluster with `scripts/postgres start DIR`).
///
/// Without it the tests are skipped with a message, unless `SPOOL_REQUIRE_SERVERS=1`, in which
/// case they fail. The restart test starts a cluster of its own with the same script.
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["SPOOL_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let required = ProcessInfo.processInfo.environment["SPOOL_REQUIRE_SERVERS"] == "1"

    /// Enabled when a server is configured, or when servers are required (then the test runs
    /// and fails on the missing URL).
    static var enabled: Bool { url != nil || required }
    static let skipMessage: Comment =
        "SPOOL_TEST_POSTGRES_URL is not set: start a server with `scripts/postgres start DIR` and export its URL (scripts/test does this)"

    static func requireURL() throws -> String {
        guard let url else {
            throw SpoolError(code: .storageUnavailable, message: "SPOOL_REQUIRE_SERVERS=1 but SPOOL_TEST_POSTGRES_URL is not set")
        }
        return url
    }

    /// A fresh schema name, so tests run in parallel without seeing each other's jobs.
    static func schemaName(_ tag: String = "t") -> String {
        "test_\(tag)_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }

    static func configuration(
        schema: String, poolSize: Int = 4, notifications: Bool = true, preparedStatements: Bool = true,
        pollInterval: Duration = .milliseconds(200), maintenance: PostgresStorage.Configuration.Maintenance? = nil,
        migrateOnStart: Bool = true
    ) -> PostgresStorage.Configuration {
        PostgresStorage.Configuration(
            schema: schema, poolSize: poolSize, pollInterval: pollInterval, notifications: notifications,
            preparedStatements: preparedStatements, migrateOnStart: migrateOnStart, maintenance: maintenance, startTimeout: .seconds(30)
        )
    }

    /// Runs `body` with a running storage on a fresh schema, then stops it and drops the schema
    /// (a failed test leaves its schema for inspection).
    static func withStorage<T: Sendable>(
        schema: String = schemaName(), poolSize: Int = 4, notifications: Bool = true, preparedStatements: Bool = true,
        pollInterval: Duration = .milliseconds(200), maintenance: PostgresStorage.Configuration.Maintenance? = nil,
        _ body: @Sendable (PostgresStorage) async throws -> T
    ) async throws -> T {
        let url = try requireURL()
        let storage = try PostgresStorage(
            url: url,
            configuration: configuration(
                schema: schema, poolSize: poolSize, notifications: notifications, preparedStatements: preparedStatements,
                pollInterval: pollInterval, maintenance: maintenance
            )
        )
        return try await running(storage) { storage in
            let value = try await body(storage)
            try await dropSchema(schema, url: url)
            return value
        }
    }

    /// Runs `storage` for the duration of `body`.
    static func running<T: Sendable>(_ storage: PostgresStorage, _ body: @Sendable (PostgresStorage) async throws -> T) async throws -> T {
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

    /// Runs SQL on a connection of its own (for set-up and checks outside the driver).
    @discardableResult
    static func withConnection<T: Sendable>(url: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let parsed = try #require(URLComponents(string: url))
        let configuration = PostgresConnection.Configuration(
            host: parsed.host ?? "127.0.0.1", port: parsed.port ?? 5432, username: parsed.user ?? "spool",
            password: parsed.password, database: String(parsed.path.dropFirst()), tls: .disable
        )
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "spool.test"))
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func dropSchema(_ schema: String, url: String) async throws {
        try await withConnection(url: url) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: Logger(label: "spool.test"))
        }
    }

    /// The test's own `scripts/postgres`, found from this file's path.
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/postgres").path
    }

    /// Runs `scripts/postgres COMMAND DIR` through swift-subprocess and returns what it printed on
    /// standard output (`start` prints the server's URL).
    ///
    /// The script starts with an empty signal mask and default signal handlers, and inherits no
    /// descriptor of ours beyond its standard ones (swift-subprocess does both): the server it
    /// starts holds no pipe of another child open, and it hears pg_ctl's stop signal (the test process's threads block signals). Its exit is awaited as an event;
    /// after 300 s it is SIGKILLed and the test fails.
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
                try? await Task.sleep(for: .seconds(300))
                return nil
            }
            // Cancelling the run at the deadline SIGKILLs the script (swift-subprocess's teardown).
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        let done = try #require(run, "scripts/postgres \(command) \(dir) took longer than 300 s")
        try #require(done.status.isSuccess, "scripts/postgres \(command) \(dir) failed (\(done.status)): \(done.stderr)")
        return done.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `body` with the URL of a PostgreSQL cluster of its own (started with
    /// `scripts/postgres start` in a new folder, stopped and deleted afterwards), for tests that
    /// restart the server under the other tests' feet otherwise.
    static func withPrivateCluster<T: Sendable>(_ body: (_ url: String, _ dir: String) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-pg-\(UUID().uuidString)").path
        // World-traversable: the cluster runs as an unprivileged user when the tests run as root.
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dir = folder + "/cluster"
        let url = try await runScript("start", dir: dir)
        try #require(url.hasPrefix("postgres://"), "scripts/postgres start printed no URL: '\(url)'")
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
