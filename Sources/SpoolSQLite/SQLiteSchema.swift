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
    static let liveStates = "'pending', 'scheduled', 'available', 'running'"
    /// Final states (`JobState.isFinished`).
    static let finishedStates = "'succeeded', 'dead', 'cancelled'"
    /// The states `spool_jobs_state` holds (from version 3): all but `available` and `running`,
    /// whose jobs the claim and lease indexes count.
    static let stateIndexStates = "'pending', 'scheduled', 'succeeded', 'dead', 'cancelled'"
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
        // Workflows (#21): the `pending` state (a CHECK and two partial indexes change, so the
        // table is rebuilt as in version 4), a job's batch and dependencies, batches with their
        // counts and callbacks.
        //
        // Batch counts and callbacks are kept by triggers, so every statement that moves a
        // job of a batch into or out of a final state (an outcome, a cancel, a rescue, a retry)
        // counts it in the same statement, and the batch's first finish enqueues its callbacks
        // (each once: a callback row is marked fired). A job with dependents that ends writes a
        // row to `spool_workflow_events` (so does a batch that finishes or fires a callback);
        // the driver releases or cancels the dependents (and wakes its workers and waiters) in
        // the same transaction (a loop, not trigger recursion, so a chain of any length
        // cascades).
        Migration(
            version: 5, name: "workflows: pending jobs, batches and dependencies",
            sql: """
                CREATE TABLE spool_jobs_v5 (
                    id                    BLOB    NOT NULL PRIMARY KEY,
                    queue                 TEXT    NOT NULL,
                    kind                  TEXT    NOT NULL,
                    payload               BLOB,
                    priority              INTEGER NOT NULL,
                    state                 TEXT    NOT NULL CHECK (state = 'pending' OR state = 'scheduled' OR state = 'available' OR state = 'running' OR state = 'succeeded' OR state = 'dead' OR state = 'cancelled'),
                    attempt               INTEGER NOT NULL DEFAULT 0,
                    max_attempts          INTEGER NOT NULL,
                    run_at                INTEGER NOT NULL,
                    created_at            INTEGER NOT NULL,
                    attempted_at          INTEGER,
                    finished_at           INTEGER,
                    lease_owner           TEXT,
                    lease_expires_at      INTEGER,
                    errors                TEXT    NOT NULL DEFAULT '[]',
                    unique_key            TEXT,
                    timeout_us            INTEGER,
                    result                BLOB,
                    progress              TEXT,
                    expired_leases        INTEGER NOT NULL DEFAULT 0,
                    metadata              TEXT,
                    batch_id              BLOB,    -- the batch's id (16 bytes); NULL outside batches
                    waiting_on            INTEGER, -- dependencies that have not ended yet; NULL for a job without dependencies
                    on_dependency_failure TEXT,    -- 'cancel' or 'run'; NULL without dependencies
                    has_dependents        INTEGER  -- 1 once a job depends on it; NULL otherwise
                );
                INSERT INTO spool_jobs_v5 (rowid, id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at,
                    attempted_at, finished_at, lease_owner, lease_expires_at, errors, unique_key, timeout_us, result, progress, expired_leases, metadata)
                SELECT rowid, id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at,
                    attempted_at, finished_at, lease_owner, lease_expires_at, errors, unique_key, timeout_us, result, progress, expired_leases, metadata
                FROM spool_jobs ORDER BY rowid;
                DROP TABLE spool_jobs;
                ALTER TABLE spool_jobs_v5 RENAME TO spool_jobs;
                CREATE INDEX spool_jobs_claim ON spool_jobs (queue, priority DESC, run_at, id, state) WHERE state = 'available';
                CREATE INDEX spool_jobs_due ON spool_jobs (run_at) WHERE state = 'scheduled';
                CREATE INDEX spool_jobs_lease ON spool_jobs (lease_expires_at, queue, state) WHERE state = 'running';
                CREATE INDEX spool_jobs_finished ON spool_jobs (finished_at) WHERE (state = 'succeeded' OR state = 'dead' OR state = 'cancelled');
                CREATE INDEX spool_jobs_state ON spool_jobs (state, queue, id) WHERE (state = 'pending' OR state = 'scheduled' OR state = 'succeeded' OR state = 'dead' OR state = 'cancelled');
                CREATE UNIQUE INDEX spool_jobs_unique_key ON spool_jobs (unique_key)
                    WHERE unique_key IS NOT NULL AND (state = 'pending' OR state = 'scheduled' OR state = 'available' OR state = 'running');
                -- A batch's jobs, by id.
                CREATE INDEX spool_jobs_batch ON spool_jobs (batch_id, id) WHERE batch_id IS NOT NULL;

                CREATE TABLE spool_batches (
                    id           BLOB    NOT NULL PRIMARY KEY,
                    created_at   INTEGER NOT NULL,
                    finished_at  INTEGER,           -- the first time every job was final (callbacks fired then)
                    cancelled_at INTEGER,
                    total        INTEGER NOT NULL,
                    succeeded    INTEGER NOT NULL DEFAULT 0,
                    dead         INTEGER NOT NULL DEFAULT 0,
                    cancelled    INTEGER NOT NULL DEFAULT 0,
                    last_at      INTEGER            -- when a job of the batch last reached a final state
                ) WITHOUT ROWID;
                CREATE INDEX spool_batches_finished ON spool_batches (finished_at) WHERE finished_at IS NOT NULL;
                -- A batch's callbacks: the job to enqueue (the columns of spool_jobs it needs) per event.
                CREATE TABLE spool_batch_callbacks (
                    batch_id     BLOB    NOT NULL,
                    event        TEXT    NOT NULL CHECK (event = 'success' OR event = 'complete' OR event = 'dead'),
                    fired        INTEGER NOT NULL DEFAULT 0,
                    id           BLOB    NOT NULL,
                    queue        TEXT    NOT NULL,
                    kind         TEXT    NOT NULL,
                    payload      BLOB,
                    priority     INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL,
                    run_at       INTEGER NOT NULL,
                    created_at   INTEGER NOT NULL,
                    timeout_us   INTEGER,
                    metadata     TEXT,             -- with the batch's id and the event already in it
                    PRIMARY KEY (batch_id, event)
                ) WITHOUT ROWID;
                CREATE TABLE spool_dependencies (
                    job_id     BLOB NOT NULL,
                    depends_on BLOB NOT NULL,
                    PRIMARY KEY (job_id, depends_on)
                ) WITHOUT ROWID;
                CREATE INDEX spool_dependencies_depends_on ON spool_dependencies (depends_on);
                -- Notes for the driver to act on in the same transaction: a job with dependents that reached
                -- a final state (its id and state), a batch that fired a callback ('fired') or finished ('finished').
                CREATE TABLE spool_workflow_events (
                    job_id BLOB    NOT NULL,
                    state  TEXT    NOT NULL,
                    at     INTEGER NOT NULL
                );

                -- Counts a batch's jobs into and out of the final states, and fires on_dead at the first dead one.
                CREATE TRIGGER spool_jobs_batch_count AFTER UPDATE OF state ON spool_jobs
                WHEN NEW.batch_id IS NOT NULL AND OLD.state <> NEW.state
                    AND (NEW.state = 'succeeded' OR NEW.state = 'dead' OR NEW.state = 'cancelled'
                        OR OLD.state = 'succeeded' OR OLD.state = 'dead' OR OLD.state = 'cancelled')
                BEGIN
                    INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                    SELECT c.id, c.queue, c.kind, c.payload, c.priority,
                        CASE WHEN c.run_at > COALESCE(NEW.finished_at, c.run_at) THEN 'scheduled' ELSE 'available' END,
                        c.max_attempts, MAX(c.run_at, COALESCE(NEW.finished_at, c.run_at)), c.created_at, c.timeout_us, c.metadata
                    FROM spool_batch_callbacks c
                    WHERE NEW.state = 'dead' AND c.batch_id = NEW.batch_id AND c.event = 'dead' AND c.fired = 0
                        AND NOT EXISTS (SELECT 1 FROM spool_jobs WHERE id = c.id);
                    INSERT INTO spool_workflow_events (job_id, state, at)
                    SELECT NEW.batch_id, 'fired', COALESCE(NEW.finished_at, 0) FROM spool_batch_callbacks
                    WHERE NEW.state = 'dead' AND batch_id = NEW.batch_id AND event = 'dead' AND fired = 0;
                    UPDATE spool_batch_callbacks SET fired = 1
                    WHERE NEW.state = 'dead' AND batch_id = NEW.batch_id AND event = 'dead' AND fired = 0;
                    UPDATE spool_batches SET
                        succeeded = succeeded + (NEW.state = 'succeeded') - (OLD.state = 'succeeded'),
                        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
                        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
                        last_at = COALESCE(NEW.finished_at, last_at)
                    WHERE id = NEW.batch_id;
                END;
                -- A batch's first finish: on_complete, and on_success when every job succeeded (and it was not cancelled).
                CREATE TRIGGER spool_batches_finish AFTER UPDATE OF succeeded, dead, cancelled, total ON spool_batches
                WHEN NEW.finished_at IS NULL AND NEW.succeeded + NEW.dead + NEW.cancelled >= NEW.total
                BEGIN
                    INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                    SELECT c.id, c.queue, c.kind, c.payload, c.priority,
                        CASE WHEN c.run_at > COALESCE(NEW.last_at, NEW.created_at) THEN 'scheduled' ELSE 'available' END,
                        c.max_attempts, MAX(c.run_at, COALESCE(NEW.last_at, NEW.created_at)), c.created_at, c.timeout_us, c.metadata
                    FROM spool_batch_callbacks c
                    WHERE c.batch_id = NEW.id AND c.fired = 0
                        AND (c.event = 'complete' OR (c.event = 'success' AND NEW.succeeded >= NEW.total AND NEW.cancelled_at IS NULL))
                        AND NOT EXISTS (SELECT 1 FROM spool_jobs WHERE id = c.id);
                    UPDATE spool_batch_callbacks SET fired = 1
                    WHERE batch_id = NEW.id AND fired = 0
                        AND (event = 'complete' OR (event = 'success' AND NEW.succeeded >= NEW.total AND NEW.cancelled_at IS NULL));
                    UPDATE spool_batches SET finished_at = COALESCE(NEW.last_at, NEW.created_at) WHERE id = NEW.id;
                    INSERT INTO spool_workflow_events (job_id, state, at) VALUES (NEW.id, 'finished', COALESCE(NEW.last_at, NEW.created_at));
                END;
                -- A job with dependents reached a final state.
                CREATE TRIGGER spool_jobs_dependents AFTER UPDATE OF state ON spool_jobs
                WHEN NEW.has_dependents IS NOT NULL
                    AND (NEW.state = 'succeeded' OR NEW.state = 'dead' OR NEW.state = 'cancelled')
                    AND NOT (OLD.state = 'succeeded' OR OLD.state = 'dead' OR OLD.state = 'cancelled')
                BEGIN
                    INSERT INTO spool_workflow_events (job_id, state, at) VALUES (NEW.id, NEW.state, COALESCE(NEW.finished_at, 0));
                END;
                -- A deleted dependent's list of dependencies goes with it.
                CREATE TRIGGER spool_jobs_deleted_dependent AFTER DELETE ON spool_jobs
                WHEN OLD.waiting_on IS NOT NULL
                BEGIN
                    DELETE FROM spool_dependencies WHERE job_id = OLD.id;
                END;
                """),
        // The count of a batch's jobs no longer runs on_dead's three statements for every job
        // (each a seek that finds nothing unless the job went dead): they move to a trigger of
        // their own, which runs only for a job that goes dead.
        Migration(
            version: 6, name: "workflows: on_dead in a trigger of its own",
            sql: """
                DROP TRIGGER spool_jobs_batch_count;
                CREATE TRIGGER spool_jobs_batch_dead AFTER UPDATE OF state ON spool_jobs
                WHEN NEW.batch_id IS NOT NULL AND NEW.state = 'dead' AND OLD.state <> 'dead'
                BEGIN
                    INSERT INTO spool_jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                    SELECT c.id, c.queue, c.kind, c.payload, c.priority,
                        CASE WHEN c.run_at > COALESCE(NEW.finished_at, c.run_at) THEN 'scheduled' ELSE 'available' END,
                        c.max_attempts, MAX(c.run_at, COALESCE(NEW.finished_at, c.run_at)), c.created_at, c.timeout_us, c.metadata
                    FROM spool_batch_callbacks c
                    WHERE c.batch_id = NEW.batch_id AND c.event = 'dead' AND c.fired = 0
                        AND NOT EXISTS (SELECT 1 FROM spool_jobs WHERE id = c.id);
                    INSERT INTO spool_workflow_events (job_id, state, at)
                    SELECT NEW.batch_id, 'fired', COALESCE(NEW.finished_at, 0) FROM spool_batch_callbacks
                    WHERE batch_id = NEW.batch_id AND event = 'dead' AND fired = 0;
                    UPDATE spool_batch_callbacks SET fired = 1 WHERE batch_id = NEW.batch_id AND event = 'dead' AND fired = 0;
                END;
                CREATE TRIGGER spool_jobs_batch_count AFTER UPDATE OF state ON spool_jobs
                WHEN NEW.batch_id IS NOT NULL AND OLD.state <> NEW.state
                    AND (NEW.state = 'succeeded' OR NEW.state = 'dead' OR NEW.state = 'cancelled'
                        OR OLD.state = 'succeeded' OR OLD.state = 'dead' OR OLD.state = 'cancelled')
                BEGIN
                    UPDATE spool_batches SET
                        succeeded = succeeded + (NEW.state = 'succeeded') - (OLD.state = 'succeeded'),
                        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
                        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
                        last_at = COALESCE(NEW.finished_at, last_at)
                    WHERE id = NEW.batch_id;
                END;
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
