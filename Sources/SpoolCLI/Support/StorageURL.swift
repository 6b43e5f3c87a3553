import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolPostgres
import SpoolRedis
import SpoolSQLite

/// Where jobs are stored, as one URL (the fixed names of ARCHITECTURE.md):
/// `sqlite:PATH` (the default, `sqlite:spool.sqlite`), `memory:`, `postgres://USER:PASS@HOST:PORT/DB`,
/// `redis://[:PASS@]HOST:PORT[/DB]`.
///
/// The one place the CLI turns a `--database` flag or `SPOOL_DATABASE_URL` into a store: parsing
/// here, resolution in ``resolve(flag:environment:)``, opening in ``open(_:)``.
enum StorageURL: Equatable, Sendable, CustomStringConvertible {
    /// An SQLite file. `sqlite:PATH[?durability=full|normal|extra]`; `sqlite://PATH` and
    /// `sqlite:///ABSOLUTE` are read the same way, and a leading `~/` is the home folder. A `?`
    /// starts the options, as in SQLite's own URI file names.
    case sqlite(path: String, durability: SQLiteStorage.Configuration.Durability = .full)
    /// A store inside this process, gone when it exits.
    case memory
    /// A PostgreSQL server: `postgres://USER:PASS@HOST:PORT/DB`, with the driver's query options
    /// (`schema=`, `notifications=off`, `pool_size=`, `sslmode=`).
    case postgres(String)
    /// A Redis server: `redis://[[USER]:PASS@]HOST[:PORT][/DB]`, with the driver's query options
    /// (`namespace=`, `pool_size=`).
    case redis(String)

    /// Used when neither the flag nor the environment names a store.
    static let defaultURL = "sqlite:spool.sqlite"
    /// The environment variable read when `--database` is absent.
    static let environmentKey = "SPOOL_DATABASE_URL"

    /// Parses one storage URL.
    /// - Throws: ``CLIError`` naming what is wrong (never echoing a password).
    init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let colon = text.firstIndex(of: ":") else {
            if text.isEmpty { throw CLIError("the storage URL is empty: expected sqlite:PATH, memory:, postgres://… or redis://…") }
            throw CLIError("'\(text)' is not a storage URL: for an SQLite file write sqlite:\(text)")
        }
        let scheme = text[..<colon].lowercased()
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "sqlite":
            var path = rest.hasPrefix("//") ? String(rest.dropFirst(2)) : rest
            var durability = SQLiteStorage.Configuration.Durability.full
            if let question = path.firstIndex(of: "?") {
                durability = try Self.sqliteOptions(String(path[path.index(after: question)...]))
                path = String(path[..<question])
            }
            if path == "~" || path.hasPrefix("~/") {
                path = FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
            }
            guard !path.isEmpty else {
                throw CLIError("the storage URL 'sqlite:' names no file: write sqlite:PATH, e.g. sqlite:spool.sqlite")
            }
            self = .sqlite(path: path, durability: durability)
        case "memory":
            guard rest.isEmpty || rest == "//" else {
                throw CLIError("the storage URL 'memory:' takes nothing after the colon (got '\(text)')")
            }
            self = .memory
        case "postgres", "postgresql":
            guard rest.hasPrefix("//") else { throw CLIError("a PostgreSQL storage URL looks like postgres://USER:PASS@HOST:PORT/DB") }
            self = .postgres(text)
        case "redis", "rediss":
            guard rest.hasPrefix("//") else { throw CLIError("a Redis storage URL looks like redis://[:PASS@]HOST:PORT[/DB]") }
            self = .redis(text)
        default:
            if scheme.count == 1, rest.hasPrefix("\\") || rest.hasPrefix("/") {
                throw CLIError("'\(text)' is not a storage URL: for an SQLite file write sqlite:\(text)")
            }
            throw CLIError(
                "unknown storage URL scheme '\(scheme):': expected sqlite:PATH, memory:, postgres://USER:PASS@HOST:PORT/DB or redis://HOST:PORT"
            )
        }
    }

    /// The options of an SQLite URL (after its `?`): `durability=full|normal|extra`.
    private static func sqliteOptions(_ query: String) throws -> SQLiteStorage.Configuration.Durability {
        var durability = SQLiteStorage.Configuration.Durability.full
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            guard name == "durability" else {
                throw CLIError("unknown option '\(name.prefix(64))' in the SQLite URL (known: durability)")
            }
            guard let chosen = SQLiteStorage.Configuration.Durability(value) else {
                throw CLIError("durability must be full, normal or extra, got '\(value.prefix(64))'")
            }
            durability = chosen
        }
        return durability
    }

    /// The store to use: `flag` when given, else `SPOOL_DATABASE_URL` when set and not empty,
    /// else `fallback` (a config file's `database`) when given, else ``defaultURL``.
    /// - Throws: ``CLIError`` when the chosen URL is malformed, saying where it came from.
    static func resolve(
        flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment, fallback: String? = nil
    ) throws -> StorageURL {
        if let flag {
            do { return try StorageURL(parsing: flag) } catch let error as CLIError { throw CLIError("--database: \(error.message)") }
        }
        if let value = environment[environmentKey], !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            do { return try StorageURL(parsing: value) } catch let error as CLIError {
                throw CLIError("\(environmentKey): \(error.message)")
            }
        }
        if let fallback {
            do { return try StorageURL(parsing: fallback) } catch let error as CLIError {
                throw CLIError("config file 'database': \(error.message)")
            }
        }
        return try StorageURL(parsing: defaultURL)
    }

    /// The URL as it can be shown: passwords of server URLs are masked.
    var description: String {
        switch self {
        case .sqlite(let path, let durability): return "sqlite:\(path)" + (durability == .full ? "" : "?durability=\(durability)")
        case .memory: return "memory:"
        case .postgres(let url), .redis(let url): return Self.maskingPassword(url)
        }
    }

    /// The driver's name: `sqlite`, `memory`, `postgres` or `redis`.
    var driverName: String {
        switch self {
        case .sqlite: return "sqlite"
        case .memory: return "memory"
        case .postgres: return "postgres"
        case .redis: return "redis"
        }
    }

    /// Who returns the jobs of crashed workers to their queue, every `rescueInterval` (nil:
    /// nobody): on the server drivers (PostgreSQL, Redis) one leader elected among every process
    /// sharing the store (`leaderRescue`: open the store with it, which also prunes), elsewhere
    /// each worker itself (`workerRescue`: the worker's `rescueInterval`).
    func rescueDuty(every rescueInterval: Duration?) -> (leaderRescue: Duration?, workerRescue: Duration?) {
        switch self {
        case .postgres, .redis: return (rescueInterval, nil)
        case .sqlite, .memory: return (nil, rescueInterval)
        }
    }

    /// The drivers' logger for one-shot commands: errors only.
    static var quietLogger: Logger {
        var logger = Logger(label: "spool.storage")
        logger.logLevel = .error
        return logger
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`.
    private static func maskingPassword(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else { return url }
        let userInfo = url[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }

    // MARK: Opening

    /// What a command may do to an SQLite file it opens.
    enum Access: Sendable {
        /// Create the file if it is missing and migrate it to the current schema (`work`,
        /// `enqueue`).
        case create
        /// The file must exist and be at the current schema; it is never created or migrated
        /// (inspection and operator actions: a mistyped path is an error, not a new empty store).
        case existing
    }

    /// Opens the store.
    ///
    /// SQLite: refuses, with one sentence and without changing anything, a directory, a file
    /// that is not an SQLite database, a missing folder, a missing file (with `.existing`), and a
    /// file whose schema is newer than this build (or older, with `.existing`).
    /// - Throws: ``CLIError`` or the driver's ``SpoolError``.
    ///
    /// PostgreSQL: `.create` migrates the schema on start, `.existing` refuses a schema at
    /// another version. Redis has no schema: both accesses are the same.
    ///
    /// `leaderRescue` (server drivers only) turns on the leader-elected maintenance: the rescue
    /// of expired leases every `leaderRescue` and the pruning of old finished jobs (for `spool
    /// work` and `spool serve`; see ``rescueDuty(every:)``). The server drivers' service must run
    /// while the store is used: ``withStorage(flag:access:leaderRescue:_:)`` does that.
    ///
    /// `logger` gets the driver's own reports (retries while a server cannot be reached, a lost
    /// wake-up connection); by default only errors, so that a one-shot command's failure is its
    /// one `error:` line. Long-running commands pass a logger at the level the user chose.
    func open(_ access: Access, leaderRescue: Duration? = nil, logger: Logger = StorageURL.quietLogger) throws -> OpenedStorage {
        switch self {
        case .memory:
            return OpenedStorage(url: self, storage: MemoryStorage())
        case .redis(let url):
            let maintenance = leaderRescue.map { RedisStorage.Configuration.Maintenance(rescueInterval: $0) }
            let configuration = RedisStorage.Configuration(maintenance: maintenance, logger: logger)
            let storage = try CLIError.rewording { try RedisStorage(url: url, configuration: configuration) }
            return OpenedStorage(url: self, storage: storage, service: storage)
        case .postgres(let url):
            let maintenance = leaderRescue.map { PostgresStorage.Configuration.Maintenance(rescueInterval: $0) }
            let configuration = PostgresStorage.Configuration(migrateOnStart: access == .create, maintenance: maintenance, logger: logger)
            let storage = try CLIError.rewording { try PostgresStorage(url: url, configuration: configuration) }
            return OpenedStorage(url: self, storage: storage, service: storage, postgres: storage)
        case .sqlite(let path, let durability):
            try Self.checkSQLitePath(path, mayCreate: access == .create)
            let configuration = SQLiteStorage.Configuration(
                durability: durability, readers: 2, migrateOnOpen: access == .create, logger: logger)
            let storage = try SQLiteStorage(path: path, configuration: configuration)
            return OpenedStorage(url: self, storage: storage, sqlite: storage)
        }
    }

    /// The first 16 bytes of every SQLite 3 database file.
    private static let sqliteHeader = Array("SQLite format 3\0".utf8)

    /// Checks an SQLite path before the driver opens it, for the mistakes that deserve their own
    /// sentence: a folder, a missing file or folder, a file of another format.
    static func checkSQLitePath(_ path: String, mayCreate: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                throw CLIError("SQLite job store '\(path)' is a directory, not a database file")
            }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw CLIError("SQLite job store '\(path)' cannot be read (check its permissions)")
            }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 16)).map { Array($0) } ?? []
            // An empty file is an empty database to SQLite; anything else must carry the header.
            if !head.isEmpty && head != sqliteHeader {
                throw CLIError("'\(path)' is not an SQLite database (nothing was changed)")
            }
            return
        }
        guard mayCreate else {
            throw CLIError("no SQLite job store at '\(path)' (`spool migrate`, `spool enqueue` or `spool work` creates one)")
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            var folderIsDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &folderIsDirectory) else {
                throw CLIError("cannot create SQLite job store '\(path)': folder '\(folder)' does not exist")
            }
            guard folderIsDirectory.boolValue else {
                throw CLIError("cannot create SQLite job store '\(path)': '\(folder)' is not a folder")
            }
        }
    }
}

/// A driver that is a service of its own (a connection pool, a wake-up listener, the
/// leader-elected maintenance): it must run while it is used, and says when it is ready.
protocol ServedStorage: JobStorage, Service {
    /// Suspends until ``run()`` is ready for operations; throws when it failed to start.
    func waitUntilReady() async throws
}

extension PostgresStorage: ServedStorage {}
extension RedisStorage: ServedStorage {}

/// An open store and how to close it.
struct OpenedStorage: Sendable {
    let url: StorageURL
    let storage: any JobStorage
    /// The server driver's service (PostgreSQL, Redis), which must run while the store is used.
    var service: (any ServedStorage)? = nil
    /// The SQLite driver, when that is the store (for `close()` and its schema version).
    var sqlite: SQLiteStorage? = nil
    /// The PostgreSQL driver, when that is the store (for its migration report).
    var postgres: PostgresStorage? = nil

    /// Closes the store's file, if it has one. Failures are ignored: the process is ending.
    func close() {
        try? sqlite?.close()
    }

    /// Runs `body` while the store's own service (a server driver's pool, wake-up listener and
    /// maintenance) runs beside it, once the store is ready; stops the service afterwards.
    /// - Throws: what `body` throws, or the store's start failure (unreachable server, schema at
    ///   another version) as one line.
    func whileRunning<T>(_ body: (OpenedStorage) async throws -> T) async throws -> T {
        guard let service else { return try await body(self) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            do {
                try await service.waitUntilReady()
                let value = try await body(self)
                group.cancelAll()
                try? await group.waitForAll()
                return value
            } catch {
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

extension StorageURL {
    /// Resolves the URL from `flag` / the environment, opens it, runs `body` while the store
    /// runs, and closes it. `leaderRescue` and `logger`: see ``open(_:leaderRescue:logger:)``.
    static func withStorage<T>(
        flag: String?, access: Access, leaderRescue: Duration? = nil, logger: Logger = StorageURL.quietLogger,
        _ body: (OpenedStorage) async throws -> T
    ) async throws -> T {
        let opened = try resolve(flag: flag).open(access, leaderRescue: leaderRescue, logger: logger)
        defer { opened.close() }
        return try await opened.whileRunning(body)
    }
}
