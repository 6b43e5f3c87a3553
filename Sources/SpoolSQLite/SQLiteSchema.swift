import Foundation
import GRDB
import Spool

/// What a migration run did.
public struct SQLiteMigrationReport: Sendable, Hashable, CustomStringConvertible {
    /// The file's schema version before the run (0 for a file without Spool's tables).
    public var from: Int
    /// The file's schema version after the run: ``SQLiteStorage/schemaVersion``.
    public var to: Int
    /// The names of the migrations applied, oldest first (empty when the file was up to date).
    public var applied: [String]

    public var description: String {
        applied.isEmpty
            ? "schema version \(to), up to date"
            : "schema version \(from) → \(to): applied \(applied.joined(separator: ", "))"
    }
}

/// The driver's schema and its versioned migrations.
///
/// The version a file is at is the highest `version` in `spool_migrations` (a table of its own,
/// so Spool's tables can share a file with an application's without touching its
/// `user_version`). Migrations only ever append: a shipped migration's SQL never changes.
enum SQLiteSchema {
    struct Migration {
        let version: Int
        let name: String
        let sql: String
    }

    // The hot queries name their index (`INDEXED BY`): without ANALYZE statistics SQLite's
    // planner prefers `spool_jobs_state` and would scan every job in a state. Renaming an index
    // means changing those queries too (a query whose index is gone fails to prepare, loudly).
    //
    // The state conditions below appear in partial index definitions: they are part of the
    // file format, written out literally in the migrations, and the queries use the same text
    // so SQLite's planner can match them to the indexes. Tests check them against the state
    // machine and against the migrations' text.

    /// States that hold a unique key (`JobState.isLive`).
    static let liveStates = "'scheduled', 'available', 'running'"
    /// Final states (`JobState.isFinished`).
    static let finishedStates = "'succeeded', 'dead', 'cancelled'"
    /// The states `spool_jobs_state` holds (from version 3): all but `available` and `running`,
    /// whose jobs the claim and lease indexes count.
    static let stateIndexStates = "'scheduled', 'succeeded', 'dead', 'cancelled'"
    /// Whether `spool_jobs_state` holds jobs in `state` (``stateIndexStates``).
    static func stateIndexHolds(_ state: JobState) -> Bool { state != .available && state != .running }

    /// `state` is one of `states` (a list as above), written as comparisons joined by OR, in
    /// parentheses. Since version 4 the partial indexes and the CHECK use this form: SQLite
    /// codes an `IN` list of more than two constants in a CHECK or an index's WHERE as a
    /// temporary b-tree built afresh for every row written (twice per index on an UPDATE),
    /// which was about half of a claim's and a finish's cost. An OR of comparisons is a few
    /// instructions, and a query's `state = 'x'` still implies it for the planner.
    static func anyState(_ states: String) -> String {
        "(" + states.split(separator: ",").map { "state = \($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: " OR ") + ")"
    }

    /// The WHERE of `spool_jobs_unique_key` from version 4, as queries must repeat it.
    static let liveCondition = anyState(liveStates)
    /// The WHERE of `spool_jobs_finished` from version 4.
    static let finishedCondition = anyState(finishedStates)
    /// The WHERE of `spool_jobs_state` from version 4.
    static let stateIndexCondition = anyState(stateIndexStates)

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "create spool_jobs and spool_queues",
            sql: """
                CREATE TABLE spool_jobs (
                    id               BLOB    NOT NULL PRIMARY KEY, -- 16 bytes, big-endian: sorts like JobID
                    queue            TEXT    NOT NULL,
                    kind             TEXT    NOT NULL,
                    payload          BLOB,                         -- the encoded parameters; NULL for empty
                    priority         INTEGER NOT NULL,
                    state            TEXT    NOT NULL CHECK (state IN ('scheduled', 'available', 'running', 'succeeded', 'dead', 'cancelled')),
                    attempt          INTEGER NOT NULL DEFAULT 0,
                    max_attempts     INTEGER NOT NULL,
                    run_at           INTEGER NOT NULL,             -- times: microseconds since the Unix epoch
                    created_at       INTEGER NOT NULL,
                    attempted_at     INTEGER,
                    finished_at      INTEGER,
                    lease_owner      TEXT,
                    lease_expires_at INTEGER,
                    errors           TEXT    NOT NULL DEFAULT '[]', -- JSON [{attempt, at, message, reason}], oldest first
                    unique_key       TEXT,
                    timeout_us       INTEGER,                      -- per-attempt time limit, microseconds
                    result           BLOB,
                    progress         TEXT,                         -- JSON {fraction, message}
                    expired_leases   INTEGER NOT NULL DEFAULT 0,
                    metadata         TEXT                          -- JSON object of strings; NULL when empty
                );
                -- The claim: due jobs of one queue, highest priority first, then oldest run-at, then id.
                CREATE INDEX spool_jobs_claim ON spool_jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
                -- Scheduled jobs by due time: promotion to available, and the next wake-up.
                CREATE INDEX spool_jobs_due ON spool_jobs (run_at) WHERE state = 'scheduled';
                -- Running jobs by lease expiry: the rescue of crashed workers.
                CREATE INDEX spool_jobs_lease ON spool_jobs (lease_expires_at) WHERE state = 'running';
                -- Finished jobs by finish time: pruning.
                CREATE INDEX spool_jobs_finished ON spool_jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled');
                -- Inspection: listing by state (and queue) newest first, and stats without reading rows.
                CREATE INDEX spool_jobs_state ON spool_jobs (state, queue, id);
                -- A unique key is held by at most one live job; the database enforces it.
                CREATE UNIQUE INDEX spool_jobs_unique_key ON spool_jobs (unique_key)
                    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running');
                CREATE TABLE spool_queues (
                    name   TEXT    NOT NULL PRIMARY KEY,
                    paused INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                """),
        Migration(
            version: 2, name: "queue limits",
            sql: """
                -- Flow control (QueueLimits): NULL is no limit.
                ALTER TABLE spool_queues ADD COLUMN max_running INTEGER;
                ALTER TABLE spool_queues ADD COLUMN rate_limit INTEGER;
                ALTER TABLE spool_queues ADD COLUMN rate_period_us INTEGER;
                -- Starts (claims) of rate-limited queues within their window: one row per claim.
                CREATE TABLE spool_queue_starts (
                    queue TEXT    NOT NULL,
                    at    INTEGER NOT NULL,
                    count INTEGER NOT NULL
                );
                CREATE INDEX spool_queue_starts_queue ON spool_queue_starts (queue, at);
                """),
        // A claim (available → running) and a success (running → succeeded) each moved an entry
        // of the state index: on W3 about a third of SQLite's work per job. The state index now
        // leaves out available and running jobs, so a claim no longer touches it and a finish
        // adds one entry. Stats count available jobs on the claim index and running jobs on the
        // lease index; both gain the columns that count needs (queue, state), so counting still
        // reads no job rows.
        Migration(
            version: 3, name: "state index without available and running jobs",
            sql: """
                DROP INDEX spool_jobs_state;
                CREATE INDEX spool_jobs_state ON spool_jobs (state, queue, id) WHERE state IN ('scheduled', 'succeeded', 'dead', 'cancelled');
                DROP INDEX spool_jobs_claim;
                CREATE INDEX spool_jobs_claim ON spool_jobs (queue, priority DESC, run_at, id, state) WHERE state = 'available';
                DROP INDEX spool_jobs_lease;
                CREATE INDEX spool_jobs_lease ON spool_jobs (lease_expires_at, queue, state) WHERE state = 'running';
                """),
        // Conditions on `state` with an IN list of three or more (the CHECK, and the WHERE of
        // the finished, state and unique-key indexes) are written as ORs (see `anyState`). A
        // CHECK cannot be altered in place, so the table is rebuilt (rows, rowids and ids
        // kept) and its indexes made again; this reads and writes every job once.
        Migration(
            version: 4, name: "state conditions without IN lists",
            sql: """
                CREATE TABLE spool_jobs_v4 (
                    id               BLOB    NOT NULL PRIMARY KEY,
                    queue            TEXT    NOT NULL,
                    kind             TEXT    NOT NULL,
                    payload          BLOB,
                    priority         INTEGER NOT NULL,
                    state            TEXT    NOT NULL CHECK (state = 'scheduled' OR state = 'available' OR state = 'running' OR state = 'succeeded' OR state = 'dead' OR state = 'cancelled'),
                    attempt          INTEGER NOT NULL DEFAULT 0,
                    max_attempts     INTEGER NOT NULL,
                    run_at           INTEGER NOT NULL,
                    created_at       INTEGER NOT NULL,
                    attempted_at     INTEGER,
                    finished_at      INTEGER,
                    lease_owner      TEXT,
                    lease_expires_at INTEGER,
                    errors           TEXT    NOT NULL DEFAULT '[]',
                    unique_key       TEXT,
                    timeout_us       INTEGER,
                    result           BLOB,
                    progress         TEXT,
                    expired_leases   INTEGER NOT NULL DEFAULT 0,
                    metadata         TEXT
                );
                INSERT INTO spool_jobs_v4 (rowid, id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at,
                    attempted_at, finished_at, lease_owner, lease_expires_at, errors, unique_key, timeout_us, result, progress, expired_leases, metadata)
                SELECT rowid, id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at,
                    attempted_at, finished_at, lease_owner, lease_expires_at, errors, unique_key, timeout_us, result, progress, expired_leases, metadata
                FROM spool_jobs ORDER BY rowid;
                DROP TABLE spool_jobs;
                ALTER TABLE spool_jobs_v4 RENAME TO spool_jobs;
                CREATE INDEX spool_jobs_claim ON spool_jobs (queue, priority DESC, run_at, id, state) WHERE state = 'available';
                CREATE INDEX spool_jobs_due ON spool_jobs (run_at) WHERE state = 'scheduled';
                CREATE INDEX spool_jobs_lease ON spool_jobs (lease_expires_at, queue, state) WHERE state = 'running';
                CREATE INDEX spool_jobs_finished ON spool_jobs (finished_at) WHERE (state = 'succeeded' OR state = 'dead' OR state = 'cancelled');
                CREATE INDEX spool_jobs_state ON spool_jobs (state, queue, id) WHERE (state = 'scheduled' OR state = 'succeeded' OR state = 'dead' OR state = 'cancelled');
                CREATE UNIQUE INDEX spool_jobs_unique_key ON spool_jobs (unique_key)
                    WHERE unique_key IS NOT NULL AND (state = 'scheduled' OR state = 'available' OR state = 'running');
                """),
    ]

    /// The newest schema version this build knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The schema version of the file, 0 when it has no Spool tables.
    static func version(_ db: Database) throws -> Int {
        guard try db.tableExists("spool_migrations") else { return 0 }
        return try Int.fetchOne(db, sql: "SELECT MAX(version) FROM spool_migrations") ?? 0
    }

    static func tooNew(path: String, version: Int) -> SpoolError {
        SpoolError(
            code: .storageUnavailable,
            message:
                "SQLite job store '\(path)' has schema version \(version), newer than the newest this build of Spool knows (\(latestVersion)); upgrade Spool to use it (nothing was changed)"
        )
    }

    static func tooOld(path: String, version: Int) -> SpoolError {
        SpoolError(
            code: .storageUnavailable,
            message:
                "SQLite job store '\(path)' has schema version \(version) but this build of Spool needs \(latestVersion); run `spool migrate` (or open it with migrateOnOpen) first"
        )
    }

    /// Brings the file to ``latestVersion``, inside the caller's transaction (which must be
    /// IMMEDIATE, so concurrent processes migrate one after the other).
    /// - Throws: ``SpoolError`` when the file is newer than this build.
    static func migrate(_ db: Database, path: String, now: Date) throws -> SQLiteMigrationReport {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS spool_migrations (
                    version    INTEGER NOT NULL PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_at INTEGER NOT NULL
                )
                """)
        let current = try version(db)
        if current > latestVersion { throw tooNew(path: path, version: current) }
        var applied: [String] = []
        for migration in migrations where migration.version > current {
            try db.execute(sql: migration.sql)
            try db.execute(
                sql: "INSERT INTO spool_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                arguments: [migration.version, migration.name, SQLiteCoding.micros(now)]
            )
            applied.append("\(migration.version): \(migration.name)")
        }
        return SQLiteMigrationReport(from: current, to: max(current, latestVersion), applied: applied)
    }
}
