// A fresh store for one run of a workload, removed when the run ends (BenchStore).
import Foundation
import Logging
import Spool
import SpoolPostgres
import SpoolRedis
import SpoolSQLite

/// A fresh store for one run of a workload, removed when the run ends (``use(_:)``).
///
/// SQLite runs use a new file: in the temporary folder by default, or the path given with
/// `--database sqlite:PATH` (which must not exist: the bench never touches an existing store).
/// PostgreSQL runs use a new schema `spool_bench_…` in the `--database postgres://…` database,
/// Redis runs a new namespace `spool_bench_…` on the `--database redis://…` server; both are
/// dropped after the run.
final class BenchStore: Sendable {
    let storage: any JobStorage
    /// The store as a `--database` URL, for workloads that hand it to child processes (W6).
    let url: String?
    /// The SQLite file, when that is the store.
    let path: String?
    private let sqlite: SQLiteStorage?
    /// The server driver's service, and how to delete everything the run stored.
    private let service: (storage: any ServedStorage, drop: @Sendable () async throws -> Void)?

    /// A store of `driver` holding at least `capacity` waiting jobs; SQLite files go to
    /// `sqlitePath`, or a new file in the temporary folder when it is nil; PostgreSQL schemas and
    /// Redis namespaces go to the server at `serverURL` (required for those drivers).
    init(
        driver: BenchDriver, capacity: Int, sqlitePath: String?, durability: SQLiteStorage.Configuration.Durability = .full,
        serverURL: String?, logger: Logger
    ) throws {
        let scratch = "spool_bench_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        switch driver {
        case .memory:
            storage = MemoryStorage(capacity: max(capacity, MemoryStorage.Configuration().capacity))
            (url, path, sqlite, service) = (nil, nil, nil, nil)
        case .sqlite:
            let path =
                sqlitePath
                ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("spool-bench-\(UUID().uuidString).sqlite").path
            if FileManager.default.fileExists(atPath: path) {
                throw CLIError(
                    "'\(path)' exists: spool bench writes throwaway jobs to a new file and deletes it after each run, so it never uses an existing one"
                )
            }
            let sqlite = try SQLiteStorage(path: path, configuration: SQLiteStorage.Configuration(durability: durability, logger: logger))
            storage = sqlite
            (url, self.path, self.sqlite, service) = ("sqlite:\(path)", path, sqlite, nil)
        case .postgres:
            guard let serverURL else { throw CLIError("--driver postgres needs --database postgres://USER:PASS@HOST:PORT/DB") }
            let url = serverURL + (serverURL.contains("?") ? "&" : "?") + "schema=\(scratch)"
            let configuration = PostgresStorage.Configuration(poolSize: 8, maintenance: nil, startTimeout: .seconds(30), logger: logger)
            let postgres = try CLIError.rewording { try PostgresStorage(url: url, configuration: configuration) }
            storage = postgres
            (self.url, path, sqlite, service) = (url, nil, nil, (postgres, { try await postgres.dropSchema() }))
        case .redis:
            guard let serverURL else { throw CLIError("--driver redis needs --database redis://[:PASS@]HOST:PORT[/DB]") }
            let url = serverURL + (serverURL.contains("?") ? "&" : "?") + "namespace=\(scratch)"
            // Pipelined connections: claims, outcome flushes and enqueues of several workers at once.
            let configuration = RedisStorage.Configuration(poolSize: 8, startTimeout: .seconds(30), maintenance: nil, logger: logger)
            let redis = try CLIError.rewording { try RedisStorage(url: url, configuration: configuration) }
            storage = redis
            (self.url, path, sqlite, service) = (url, nil, nil, (redis, { try await redis.dropNamespace() }))
        }
    }

    /// Runs `body` with the store ready (a server driver's service running beside it), then
    /// closes the store and deletes it: the file, the schema or the namespace.
    func use<T>(_ body: (BenchStore) async throws -> T) async throws -> T {
        guard let service else {
            defer { dispose() }
            return try await body(self)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.storage.run() }
            do {
                try await service.storage.waitUntilReady()
                let value = try await body(self)
                try? await service.drop()
                group.cancelAll()
                try? await group.waitForAll()
                return value
            } catch {
                try? await service.drop()
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Closes the SQLite store and deletes its file (with its `-wal` and `-shm` companions).
    private func dispose() {
        try? sqlite?.close()
        guard let path else { return }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}
