import Foundation
import GRDB
import Spool
import SpoolSQLite
import Testing

/// How `spool` picks and opens its store: `--database`, else `SPOOL_DATABASE_URL`, else
/// `sqlite:spool.sqlite`; every bad URL or file is one error line and exit code 1, and never
/// changes a file.
@Suite("storage URLs", .timeLimit(.minutes(2)))
struct StorageURLTests {
    /// Checks the run failed with exactly one `error:` line containing `fragment`.
    func expectOneLineError(_ run: SpoolRun, containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 1, "\(run)", sourceLocation: sourceLocation)
        #expect(run.errorLines.count == 1, "\(run)", sourceLocation: sourceLocation)
        #expect(run.errorLines.first?.hasPrefix("error: ") == true, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains(fragment), "expected '\(fragment)' in: \(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
    }

    @Test("an unreachable Redis server is one error line after the start timeout, without the password")
    func unreachableRedis() async throws {
        // Port 1 on loopback refuses at once; the driver keeps retrying until its start timeout.
        let url = "redis://:s3cret@127.0.0.1:1/0"
        try await withTemporaryFolder { folder in
            for arguments in [["stats"], ["enqueue", "spool.noop"]] {
                let run = try await spool(arguments + ["--database", url], in: folder)
                expectOneLineError(run, containing: "Redis job store 'redis://127.0.0.1:1/0' (namespace spool) is not ready after")
                #expect(!run.stderr.contains("s3cret"))
            }
            // The same from the environment; no SQLite file appears instead.
            let run = try await spool(["stats"], in: folder, environment: ["SPOOL_DATABASE_URL": url])
            expectOneLineError(run, containing: "Redis job store")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        }
    }

    @Test("bad Redis URL options are refused before connecting")
    func badRedisOptions() async throws {
        try await withTemporaryFolder { folder in
            for (url, message) in [
                ("redis://:s3cret@127.0.0.1:1/0?namespace=bad%20name", "namespace"),
                ("redis://:s3cret@127.0.0.1:1/0?colour=blue", "colour"),
                ("redis://:s3cret@127.0.0.1:1/zero", "database"),
            ] {
                let run = try await spool(["stats", "--database", url], in: folder)
                expectOneLineError(run, containing: message)
                #expect(!run.stderr.contains("s3cret"))
            }
        }
    }

    @Test("an unreachable PostgreSQL server is one error line after the start timeout, without the password")
    func unreachablePostgres() async throws {
        // Port 1 on loopback refuses at once; the driver keeps retrying until its start timeout.
        let url = "postgres://spool:s3cret@127.0.0.1:1/jobs"
        try await withTemporaryFolder { folder in
            for arguments in [["stats"], ["enqueue", "spool.noop"]] {
                let run = try await spool(arguments + ["--database", url], in: folder)
                expectOneLineError(run, containing: "PostgreSQL job store 'spool@127.0.0.1:1/jobs' (schema spool) is not ready after")
                #expect(!run.stderr.contains("s3cret"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        }
    }

    @Test("bad PostgreSQL URL options are refused before connecting")
    func badPostgresOptions() async throws {
        try await withTemporaryFolder { folder in
            for (url, message) in [
                ("postgres://spool:s3cret@127.0.0.1:1/jobs?schema=Bad-Name", "schema"),
                ("postgres://spool:s3cret@127.0.0.1:1/jobs?colour=blue", "unknown option 'colour'"),
                ("postgres://spool:s3cret@127.0.0.1:1/jobs?notifications=maybe", "notifications must be on or off"),
            ] {
                let run = try await spool(["stats", "--database", url], in: folder)
                expectOneLineError(run, containing: message)
                #expect(!run.stderr.contains("s3cret"))
            }
        }
    }

    @Test(
        "malformed URLs are one error line naming where they came from",
        arguments: [
            ("bogus://x", "unknown storage URL scheme 'bogus:'"),
            ("sqlite:", "names no file"),
            ("./jobs.sqlite", "is not a storage URL: for an SQLite file write sqlite:./jobs.sqlite"),
            ("memory:extra", "takes nothing after the colon"),
            ("postgres:jobs", "postgres://USER:PASS@HOST:PORT/DB"),
            ("sqlite:jobs.sqlite?durability=sometimes", "durability must be full, normal or extra, got 'sometimes'"),
            ("sqlite:jobs.sqlite?colour=blue", "unknown option 'colour' in the SQLite URL (known: durability)"),
        ])
    func malformedURLs(url: String, message: String) async throws {
        try await withTemporaryFolder { folder in
            let flag = try await spool(["stats", "--database", url], in: folder)
            expectOneLineError(flag, containing: message)
            #expect(flag.stderr.contains("--database"))
            let environment = try await spool(["stats"], in: folder, environment: ["SPOOL_DATABASE_URL": url])
            expectOneLineError(environment, containing: message)
            #expect(environment.stderr.contains("SPOOL_DATABASE_URL"))
        }
    }

    @Test("sqlite:PATH?durability= chooses how hard commits work to be on disk; the option is not part of the file name")
    func sqliteDurability() async throws {
        try await withTemporaryFolder { folder in
            for durability in ["normal", "FULL", "extra"] {
                let run = try await spool(
                    ["enqueue", "spool.noop", "--database", "sqlite:jobs.sqlite?durability=\(durability)"], in: folder)
                #expect(run.status == 0, "\(run)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sqlite") } == ["jobs.sqlite"])
            let stats = try await spool(["stats", "--json", "--database", "sqlite:jobs.sqlite"], in: folder)
            #expect(try (stats.jsonObject()["total"] as? [String: Any])?["total"] as? Int == 3, "\(stats)")
        }
    }

    @Test("the flag beats the environment, which beats the default sqlite:spool.sqlite")
    func resolutionOrder() async throws {
        try await withTemporaryFolder { folder in
            // Default: ./spool.sqlite in the current folder.
            let byDefault = try await spool(["enqueue", "spool.noop", "--json"], in: folder)
            #expect(byDefault.status == 0, "\(byDefault)")
            #expect(FileManager.default.fileExists(atPath: folder + "/spool.sqlite"))

            // The environment.
            let fromEnvironment = try await spool(
                ["enqueue", "spool.noop"], in: folder, environment: ["SPOOL_DATABASE_URL": "sqlite:env.sqlite"])
            #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
            #expect(FileManager.default.fileExists(atPath: folder + "/env.sqlite"))

            // The flag wins over the environment; sqlite:///ABSOLUTE is a path too.
            let flagged = try await spool(
                ["enqueue", "spool.noop", "--database", "sqlite://\(folder)/flag.sqlite"], in: folder,
                environment: ["SPOOL_DATABASE_URL": "sqlite:env.sqlite"]
            )
            #expect(flagged.status == 0, "\(flagged)")

            func total(_ arguments: [String], environment: [String: String] = [:]) async throws -> Int? {
                let run = try await spool(["stats", "--json"] + arguments, in: folder, environment: environment)
                #expect(run.status == 0, "\(run)")
                return try (run.jsonObject()["total"] as? [String: Any])?["total"] as? Int
            }
            #expect(try await total([]) == 1)
            #expect(try await total([], environment: ["SPOOL_DATABASE_URL": "sqlite:env.sqlite"]) == 1)
            #expect(try await total(["--database", "sqlite:flag.sqlite"]) == 1)
            // An empty SPOOL_DATABASE_URL counts as unset.
            #expect(try await total([], environment: ["SPOOL_DATABASE_URL": ""]) == 1)
        }
    }

    @Test("memory: works for inspection but refuses an enqueue that would be lost at exit")
    func memoryStore() async throws {
        try await withTemporaryFolder { folder in
            let stats = try await spool(["stats", "--database", "memory:", "--json"], in: folder)
            #expect(stats.status == 0, "\(stats)")
            #expect(try stats.jsonObject()["database"] as? String == "memory:")
            let enqueue = try await spool(["enqueue", "spool.noop", "--database", "memory:"], in: folder)
            expectOneLineError(enqueue, containing: "memory: keeps jobs only inside one process")
        }
    }

    @Test("a directory, a missing folder or a missing file is one error line, and nothing is created")
    func wrongPaths() async throws {
        try await withTemporaryFolder { folder in
            try FileManager.default.createDirectory(atPath: folder + "/adir", withIntermediateDirectories: false)
            for arguments in [["stats"], ["enqueue", "spool.noop"], ["migrate"], ["work"], ["jobs", "list"]] {
                let run = try await spool(arguments + ["--database", "sqlite:adir"], in: folder)
                expectOneLineError(run, containing: "is a directory")
            }
            let missingFolder = try await spool(["enqueue", "spool.noop", "--database", "sqlite:nowhere/jobs.sqlite"], in: folder)
            expectOneLineError(missingFolder, containing: "folder 'nowhere' does not exist")
            // Inspection never creates a store at a mistyped path.
            for arguments in [
                ["stats"], ["jobs", "list"], ["jobs", "show", "01KAPG3Z2M0000000000000001"], ["queues", "list"], ["queues", "pause", "q"],
            ] {
                let run = try await spool(arguments + ["--database", "sqlite:typo.sqlite"], in: folder)
                expectOneLineError(run, containing: "no SQLite job store at 'typo.sqlite'")
            }
            #expect(!FileManager.default.fileExists(atPath: folder + "/typo.sqlite"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["adir"], "nothing was created")
        }
    }

    @Test("a file that is not an SQLite database is refused and left byte for byte as it was")
    func notADatabase() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/notes.txt"
            let content = Data(String(repeating: "important notes, not a database\n", count: 200).utf8)
            try content.write(to: URL(fileURLWithPath: path))
            for arguments in [["stats"], ["enqueue", "spool.noop"], ["migrate"], ["work"], ["jobs", "list"], ["queues", "list"]] {
                let run = try await spool(arguments + ["--database", "sqlite:notes.txt"], in: folder)
                expectOneLineError(run, containing: "is not an SQLite database")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test("a file with a newer schema is refused by every command and keeps its jobs")
    func newerSchema() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/jobs.sqlite"
            let enqueued = try await spool(["enqueue", "spool.noop", "--database", "sqlite:\(path)"], in: folder)
            #expect(enqueued.status == 0, "\(enqueued)")
            let future = SQLiteStorage.schemaVersion + 7
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(
                    sql: "INSERT INTO spool_migrations (version, name, applied_at) VALUES (?, 'from the future', 0)", arguments: [future])
            }
            try queue.close()
            for arguments in [["stats"], ["enqueue", "spool.noop"], ["migrate"], ["work"], ["jobs", "list"], ["queues", "pause", "q"]] {
                let run = try await spool(arguments + ["--database", "sqlite:\(path)"], in: folder)
                expectOneLineError(run, containing: "schema version \(future), newer than")
            }
            let (version, jobs) = try await DatabaseQueue(path: path).read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT MAX(version) FROM spool_migrations"),
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spool_jobs")
                )
            }
            #expect(version == future && jobs == 1, "nothing was changed")
        }
    }
}
