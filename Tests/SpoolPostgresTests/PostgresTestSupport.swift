import Foundation
import Logging
import PostgresNIO
import Spool
import SpoolPostgres
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
    static let skipMessage: Comment = "SPOOL_TEST_POSTGRES_URL is not set: start a server with `scripts/postgres start DIR` and export its URL (scripts/test does this)"

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
        pollInterval: Duration = .milliseconds(200), maintenance: PostgresStorage.Configuration.Maintenance? = nil, migrateOnStart: Bool = true
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
        maintenance: PostgresStorage.Configuration.Maintenance? = nil,
        _ body: @Sendable (PostgresStorage) async throws -> T
    ) async throws -> T {
        let url = try requireURL()
        let storage = try PostgresStorage(
            url: url,
            configuration: configuration(
                schema: schema, poolSize: poolSize, notifications: notifications, preparedStatements: preparedStatements, maintenance: maintenance
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
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: Logger(label: "spool.test"))
        }
    }

    /// The test's own `scripts/postgres`, found from this file's path.
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/postgres").path
    }

    /// Runs `scripts/postgres COMMAND DIR` and waits for it without blocking a thread; returns
    /// what it printed on standard output (`start` prints the server's URL).
    ///
    /// Spawned with `posix_spawn` and reaped with a non-blocking `waitpid` poll, so no
    /// cooperative thread blocks on it.
    @discardableResult
    static func runScript(_ command: String, dir: String) async throws -> String {
        let arguments = ["/bin/bash", script, command, dir]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("spool-pg-script-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The server must inherit no descriptor of ours: stdin and stderr go to /dev/null,
        // stdout to a file of its own, and the script closes the rest before it starts the
        // server (an inherited end of another child's pipe would keep that child looking alive
        // to Foundation's `Process` for as long as the server runs).
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Nor our signal mask: the test process's threads block signals, and a server started
        // with them blocked may not hear pg_ctl's stop signal. An empty mask and default
        // handlers, as a shell would give it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, &attributes, &argv, environ)
        try #require(spawned == 0, "cannot run scripts/postgres: error \(spawned)")
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            try #require(reaped == 0, "waitpid failed: \(errno)")
            try await Task.sleep(for: .milliseconds(20))
        }
        let exited = (status & 0x7F) == 0
        let code = (status >> 8) & 0xFF
        try #require(exited && code == 0, "scripts/postgres \(command) \(dir) failed (wait status \(status))")
        return (try? String(contentsOfFile: output, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
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
