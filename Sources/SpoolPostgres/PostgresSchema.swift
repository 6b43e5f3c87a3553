import Foundation
import PostgresNIO
import Spool

/// What a migration run did.
public struct PostgresMigrationReport: Sendable, Hashable, CustomStringConvertible {
    /// The schema's version before the run (0 for a schema without Spool's tables).
    public var from: Int
    /// The schema's version after the run: ``PostgresStorage/schemaVersion``.
    public var to: Int
    /// The names of the migrations applied, oldest first (empty when the schema was up to date).
    public var applied: [String]

    public var description: String {
        applied.isEmpty
            ? "schema version \(to), up to date"
            : "schema version \(from) → \(to): applied \(applied.joined(separator: ", "))"
    }
}

/// The driver's tables and their versioned migrations, all inside one PostgreSQL schema (default
/// `spool`), so several Spool installations (or tests) can share a database.
///
/// The version a schema is at is the highest `version` in `<schema>.migrations`. Migrations only
/// ever append: a shipped migration's SQL never changes. Every run takes a transaction-scoped
/// advisory lock on the schema name, so concurrent migrators (several processes starting at
/// once) run one after another.
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        /// The statements, with `{S}` standing for the quoted schema name.
        let statements: [String]
    }

    /// States that hold a unique key (`JobState.isLive`), written literally: they are part of the
    /// partial unique index, and statements must repeat the same predicate to use it.
    static let liveStates = "'pending', 'scheduled', 'available', 'running'"
    /// Final states (`JobState.isFinished`).
    static let finishedStates = "'succeeded', 'dead', 'cancelled'"
    /// The states `jobs_state` holds (from version 4): the rare ones an operator looks for,
    /// not `available`, `running` and `succeeded`, which nearly every job passes through.
    static let stateIndexStates = "'pending', 'scheduled', 'dead', 'cancelled'"
    /// Whether `jobs_state` holds jobs in `state` (``stateIndexStates``).
    static func stateIndexHolds(_ state: JobState) -> Bool {
        state == .pending || state == .scheduled || state == .dead || state == .cancelled
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "create jobs, queues and leaders",
            statements: [
                """
                CREATE TABLE {S}.jobs (
                    id               uuid    NOT NULL PRIMARY KEY, -- JobID, big-endian: sorts like JobID
                    queue            text    NOT NULL,
                    kind             text    NOT NULL,
                    payload          bytea   NOT NULL,
                    priority         bigint  NOT NULL,
                    state            text    NOT NULL CHECK (state IN ('scheduled', 'available', 'running', 'succeeded', 'dead', 'cancelled')),
                    attempt          integer NOT NULL DEFAULT 0,
                    max_attempts     integer NOT NULL,
                    run_at           bigint  NOT NULL,             -- times: microseconds since the Unix epoch
                    created_at       bigint  NOT NULL,
                    attempted_at     bigint,
                    finished_at      bigint,
                    lease_owner      text,
                    lease_expires_at bigint,
                    errors           jsonb   NOT NULL DEFAULT '[]', -- [{attempt, at, message, reason}], oldest first
                    unique_key       text,
                    timeout_us       bigint,                        -- per-attempt time limit, microseconds
                    result           bytea,
                    progress         jsonb,                         -- {fraction, message}
                    expired_leases   integer NOT NULL DEFAULT 0,
                    metadata         jsonb                          -- object of strings; NULL when empty
                ) WITH (fillfactor = 80)
                """,
                // The claim: waiting jobs of one queue, highest priority first, then oldest run-at,
                // then id. Scheduled jobs are in it too, so a due one is claimed without a promoter.
                "CREATE INDEX jobs_claim ON {S}.jobs (queue, priority DESC, run_at, id) WHERE state IN ('available', 'scheduled')",
                // Scheduled jobs by due time: the next wake-up.
                "CREATE INDEX jobs_due ON {S}.jobs (run_at) WHERE state = 'scheduled'",
                // Running jobs by lease expiry: the rescue of crashed workers.
                "CREATE INDEX jobs_lease ON {S}.jobs (lease_expires_at) WHERE state = 'running'",
                // Finished jobs by finish time: pruning.
                "CREATE INDEX jobs_finished ON {S}.jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled')",
                // Inspection: listing by state (and queue) newest first, and stats.
                "CREATE INDEX jobs_state ON {S}.jobs (state, queue, id)",
                // A unique key is held by at most one live job; the database enforces it.
                """
                CREATE UNIQUE INDEX jobs_unique_key ON {S}.jobs (unique_key)
                    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running')
                """,
                "CREATE TABLE {S}.queues (name text NOT NULL PRIMARY KEY, paused boolean NOT NULL DEFAULT false)",
                // Leader election: one row per duty, held by `holder` until `expires_at` (µs, the
                // database's clock).
                "CREATE TABLE {S}.leaders (name text NOT NULL PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL)",
            ]),
        Migration(
            version: 2, name: "queue limits",
            statements: [
                // Flow control (QueueLimits): NULL is no limit.
                "ALTER TABLE {S}.queues ADD COLUMN max_running integer, ADD COLUMN rate_limit integer, ADD COLUMN rate_period_us bigint",
                // Starts (claims) of rate-limited queues within their window: one row per claim.
                "CREATE TABLE {S}.queue_starts (queue text NOT NULL, at bigint NOT NULL, count integer NOT NULL)",
                "CREATE INDEX queue_starts_queue ON {S}.queue_starts (queue, at)",
            ]),
        // Every insert, and every claim (an update that changes `state` is never HOT, so it
        // adds an entry to each index whose predicate the new row meets), added an entry to
        // the state index: about a fifth of a bulk enqueue's time in the server. Available
        // and running jobs, the ones that come and go fastest, leave it; listings of them
        // walk the id index instead (stats count with a sequential scan either way).
        Migration(
            version: 3, name: "state index without available and running jobs",
            statements: [
                "DROP INDEX {S}.jobs_state",
                "CREATE INDEX jobs_state ON {S}.jobs (state, queue, id) WHERE state IN ('scheduled', 'succeeded', 'dead', 'cancelled')",
            ]),
        // The same for succeeded jobs: a finish moves a job to `succeeded` in a new row version
        // (never HOT, as `state` changes), which added an entry to the primary key, the finish
        // index and this one. Without this one, the update part of a 2,000-job finish took
        // about a fifth less time (23 ms against 29 ms, median of 8, EXPLAIN ANALYZE on this
        // 2-core machine). Listings of succeeded jobs walk the id index, where nearly every
        // entry is one.
        Migration(
            version: 4, name: "state index without succeeded jobs",
            statements: [
                "DROP INDEX {S}.jobs_state",
                "CREATE INDEX jobs_state ON {S}.jobs (state, queue, id) WHERE state IN ('scheduled', 'dead', 'cancelled')",
            ]),
        // A job somebody awaits (`handle.value`): its finish notifies the waiting processes
        // (see `PostgresStorage.waitUntilFinished`). A constant default adds the column without
        // rewriting the table (PostgreSQL 11 and later).
        Migration(
            version: 5, name: "watched jobs",
            statements: [
                "ALTER TABLE {S}.jobs ADD COLUMN watched boolean NOT NULL DEFAULT false"
            ]),
        workflows,
        dependentsByIndex,
    ]

    /// The newest schema version this build knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Checks that `name` is a plain lower-case identifier (so it needs no quoting rules beyond
    /// double quotes, and the LISTEN channel built from it stays under 63 bytes).
    static func validate(schema name: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_")
        }
        guard !name.isEmpty, name.utf8.count <= 48, allowed, let first = name.utf8.first,
            !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
        else {
            throw SpoolError(
                code: .invalidArgument,
                message:
                    "PostgreSQL schema name '\(name)' is not allowed: use 1 to 48 lower-case letters, digits and underscores, not starting with a digit"
            )
        }
    }

    static func tooNew(schema: String, version: Int) -> SpoolError {
        SpoolError(
            code: .storageUnavailable,
            message:
                "PostgreSQL job store schema '\(schema)' has version \(version), newer than the newest this build of Spool knows (\(latestVersion)); upgrade Spool to use it (nothing was changed)"
        )
    }

    static func tooOld(schema: String, version: Int) -> SpoolError {
        SpoolError(
            code: .storageUnavailable,
            message:
                "PostgreSQL job store schema '\(schema)' has version \(version) but this build of Spool needs \(latestVersion); run `spool migrate` (or start the storage with migrateOnStart) first"
        )
    }

    /// The schema's version, 0 when it has no migrations table.
    static func version(_ connection: CheckedConnection, schema: String) async throws -> Int {
        let exists = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT to_regclass($1) IS NOT NULL", binds: binds { $0.append("\"\(schema)\".migrations") })
        )
        guard try exists.first?.decode(Bool.self) == true else { return 0 }
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT COALESCE(MAX(version), 0)::bigint FROM \"\(schema)\".migrations")
        )
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Brings the schema to ``latestVersion`` in one transaction on `connection`, under an
    /// advisory lock on the schema name. A failed migration leaves the schema as it was.
    /// - Throws: ``SpoolError`` when the schema is newer than this build.
    static func migrate(_ connection: CheckedConnection, schema: String, now: Date) async throws -> PostgresMigrationReport {
        try await connection.transaction { connection in
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT pg_advisory_xact_lock(hashtext($1))", binds: binds { $0.append("spool.migrate.\(schema)") })
            )
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""))
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE IF NOT EXISTS "\(schema)".migrations (
                            version    integer NOT NULL PRIMARY KEY,
                            name       text    NOT NULL,
                            applied_at bigint  NOT NULL
                        )
                        """))
            let current = try await version(connection, schema: schema)
            if current > latestVersion { throw tooNew(schema: schema, version: current) }
            var applied: [String] = []
            for migration in migrations where migration.version > current {
                for statement in migration.statements {
                    // `{C}`: the LISTEN/NOTIFY channel, for triggers (the schema name is checked: a plain identifier).
                    let sql = statement.replacingOccurrences(of: "{S}", with: "\"\(schema)\"")
                        .replacingOccurrences(of: "{C}", with: "spool_\(schema)")
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql))
                }
                _ = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "INSERT INTO \"\(schema)\".migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                        binds: binds {
                            $0.append(migration.version)
                            $0.append(migration.name)
                            $0.append(PostgresCoding.micros(now))
                        }
                    ))
                applied.append("\(migration.version): \(migration.name)")
            }
            // This build's procedures (not a migration: their text follows the statements').
            try await PostgresRoutine.install(connection, schema: schema)
            return PostgresMigrationReport(from: current, to: max(current, latestVersion), applied: applied)
        }
    }
}

/// Builds bindings in a closure (`binds { $0.append(x) }`).
func binds(_ build: (inout PostgresBindings) throws -> Void) rethrows -> PostgresBindings {
    var bindings = PostgresBindings()
    try build(&bindings)
    return bindings
}
