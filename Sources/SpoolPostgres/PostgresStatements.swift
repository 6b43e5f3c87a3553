import Foundation
import NIOCore
import PostgresNIO
import Spool

/// The driver's SQL, with the schema name filled in once per storage, or without it (for the
/// prepared statements, which find the tables on the pool's `search_path`).
struct PostgresStatements: Sendable {
    /// Unqualified texts, with notifications on: the prepared statements' SQL.
    static let onSearchPath = PostgresStatements(schema: nil, notifications: true)
    /// Unqualified texts, with notifications off.
    static let onSearchPathQuiet = PostgresStatements(schema: nil, notifications: false)

    /// The schema prefix of table names: `"schema".`, or empty on the search path.
    let prefix: String
    let jobs: String
    let enqueue: String
    let holders: String
    let claim: String
    let fastClaimParts: PostgresSplitStatement
    let finishParts: PostgresSplitStatement
    let finishSucceededParts: PostgresSplitStatement
    var fastClaim: String { fastClaimParts.text }
    var finish: String { finishParts.text }
    var finishSucceeded: String { finishSucceededParts.text }
    let enqueueKeyless: String
    /// The enqueue of jobs without unique keys, with and without notifications, split for
    /// their procedures (``PostgresRoutine``).
    let keylessEnqueueParts: PostgresSplitStatement
    let quietKeylessEnqueueParts: PostgresSplitStatement
    /// The enqueue of one due job without a unique key while a worker of this process waits
    /// (see ``PostgresStorage/waitForWork(claiming:deadline:clock:)``), split for its procedure.
    let handOffEnqueueParts: PostgresSplitStatement
    let heartbeat: String
    let rescue: String
    let ready: String
    let job: String
    let stats: String
    let retry: String
    let cancel: String
    let cancelBeforeDelete: String
    let delete: String
    /// Marks a job as awaited (its finish then notifies).
    let watch: String
    let prune: String
    let setPaused: String
    let paused: String
    let claimLocks: String
    let limitedQueues: String
    let recordStarts: String
    let setLimits: String
    let limits: String
    let notify: String
    let acquireLeader: String
    let releaseLeader: String

    /// The prefix of a notification that lists finished jobs (ids, comma-separated) rather than
    /// naming a queue: a control character, which no queue name holds.
    static let finishedPrefix = "\u{1}"
    /// The most ids one finish notification carries (a payload must stay under 8,000 bytes).
    static let idsPerNotification = 200

    /// A CTE `notified` over the CTE `done` (with `id` and `watched`): one notification on
    /// `channel` per ``idsPerNotification`` watched jobs meeting `finished`, each
    /// ``finishedPrefix`` and their ids. One row; costs nothing when no job is watched.
    static func notifyWatched(channel: String, finished: String) -> String {
        """
        notified AS (
            SELECT count(pg_notify(\(channel), chunk)) FROM (
                SELECT chr(1) || string_agg(id::text, ',') AS chunk
                FROM (SELECT id, (row_number() OVER ()) / \(idsPerNotification) AS g FROM done WHERE watched AND \(finished)) w GROUP BY g
            ) c
        )
        """
    }

    /// `schema` nil leaves table names unqualified.
    init(schema: String?, notifications: Bool) {
        let s = schema.map { "\"\($0)\"." } ?? ""
        let jobs = "\(s)jobs"
        prefix = s
        self.jobs = jobs
        let live = PostgresSchema.liveStates
        let notifyColumn =
            notifications
            ? ", (SELECT count(pg_notify($16, q)) FROM (SELECT DISTINCT queue AS q FROM ins) AS queues)"
            : ""
        enqueue = """
            WITH input AS (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $6::text[], $7::int8[],
                                     $8::int8[], $9::int8[], $10::text[], $11::bool[], $12::int8[], $13::bool[], $14::text[], $15::bool[])
                    WITH ORDINALITY AS t(id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
                                         unique_key, has_key, timeout_us, has_timeout, metadata, has_metadata, ord)
            ), ins AS (
                INSERT INTO \(jobs) (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, unique_key, timeout_us, metadata)
                SELECT id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
                       CASE WHEN has_key THEN unique_key END, CASE WHEN has_timeout THEN timeout_us END,
                       CASE WHEN has_metadata THEN metadata::jsonb END
                FROM input ORDER BY ord
                ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN (\(live)) DO NOTHING
                RETURNING id, queue
            )
            SELECT id\(notifyColumn) FROM ins
            """
        // Jobs without unique keys cannot conflict: a plain INSERT, with nothing returned
        // (one row per job to send and decode otherwise), notifying each queue of the input.
        let keylessInsert = """
            INSERT INTO \(jobs) (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
            SELECT id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
                   CASE WHEN has_timeout THEN timeout_us END, CASE WHEN has_metadata THEN metadata::jsonb END
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $6::text[], $7::int8[],
                        $8::int8[], $9::int8[], $10::int8[], $11::bool[], $12::text[], $13::bool[])
                AS t(id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
                     timeout_us, has_timeout, metadata, has_metadata)
            """
        keylessEnqueueParts = PostgresSplitStatement(
            ctes: "ins AS (\(keylessInsert))",
            select: "SELECT count(pg_notify($14, q)) FROM (SELECT DISTINCT unnest($2::text[]) AS q) AS queues")
        // As a procedure's statement (which must return a row): the insert runs though nothing reads it.
        quietKeylessEnqueueParts = PostgresSplitStatement(ctes: "ins AS (\(keylessInsert))", select: "SELECT 0::int8")
        // The keyless enqueue's $1-$13 (one job), then $14 the channel, $15 whether to notify,
        // $16 now, $17 the waiting worker, $18 its lease's expiry. The job goes to the worker,
        // running under that lease, when a claim right after the insert would return it: its
        // queue is not paused, has no limits, and holds no due job. Otherwise it is stored as
        // usual and its queue notified. Returns the stored state.
        handOffEnqueueParts = PostgresSplitStatement(
            ctes: """
                direct AS (
                    SELECT NOT EXISTS (
                               SELECT 1 FROM \(s)queues q WHERE q.name = ($2::text[])[1]
                                 AND (q.paused OR q.max_running IS NOT NULL OR q.rate_limit IS NOT NULL))
                       AND NOT EXISTS (
                               SELECT 1 FROM \(jobs) j WHERE j.queue = ($2::text[])[1] AND j.state IN ('available', 'scheduled')
                                 AND (j.state = 'available' OR j.run_at <= $16::int8)) AS ok
                ), ins AS (
                    INSERT INTO \(jobs) (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata,
                                         attempt, attempted_at, lease_owner, lease_expires_at)
                    SELECT id, queue, kind, payload, priority, CASE WHEN direct.ok THEN 'running' ELSE state END, max_attempts, run_at,
                           created_at, CASE WHEN has_timeout THEN timeout_us END, CASE WHEN has_metadata THEN metadata::jsonb END,
                           CASE WHEN direct.ok THEN 1 ELSE 0 END, CASE WHEN direct.ok THEN $16::int8 END,
                           CASE WHEN direct.ok THEN $17::text END, CASE WHEN direct.ok THEN $18::int8 END
                    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $6::text[], $7::int8[],
                                $8::int8[], $9::int8[], $10::int8[], $11::bool[], $12::text[], $13::bool[])
                        AS t(id, queue, kind, payload, priority, state, max_attempts, run_at, created_at,
                             timeout_us, has_timeout, metadata, has_metadata)
                    CROSS JOIN direct
                    RETURNING state, queue
                )
                """,
            select: """
                SELECT (SELECT state FROM ins LIMIT 1),
                       (SELECT count(pg_notify($14::text, queue)) FROM ins WHERE state <> 'running' AND $15::bool)
                """)
        enqueueKeyless = notifications ? keylessEnqueueParts.text : keylessInsert
        holders =
            "SELECT unique_key, id, state FROM \(jobs) WHERE unique_key = ANY($1::text[]) AND unique_key IS NOT NULL AND state IN (\(live))"
        // Shared by both claims, over a CTE `demand` (queue, lim, ord) of the queues to claim
        // from: the due jobs, by priority, run-at and id, locked (SKIP LOCKED), then moved to
        // running with the lease of $5 until $6 (at $3, at most $4 in all).
        let picked = """
            picked AS (
                SELECT c.id FROM demand CROSS JOIN LATERAL (
                    SELECT j.id, j.priority, j.run_at FROM \(jobs) j
                    WHERE j.queue = demand.queue AND j.state IN ('available', 'scheduled')
                      AND (j.state = 'available' OR j.run_at <= $3)
                    ORDER BY j.priority DESC, j.run_at, j.id
                    LIMIT demand.lim
                    FOR UPDATE SKIP LOCKED
                ) c
                ORDER BY demand.ord, c.priority DESC, c.run_at, c.id
                LIMIT $4
            )
            """
        // The picked ids as an array, not a join with `picked`: the rows are then found by
        // one primary-key probe each. As a join, the planner may take a merge join that reads
        // the primary key from its first entry up to the last picked id, through every job
        // claimed before (a claim of 500 among 10,000 jobs read 6,500-7,500 entries by its
        // fifteenth run, 2.6-4.8 ms of its 8-11 ms). The claim order of each row is its
        // queue's position in $1 (the demanded queues are distinct).
        let take = """
            UPDATE \(jobs) j
            SET state = 'running', attempt = LEAST(j.attempt, 2147483646) + 1, attempted_at = $3, lease_owner = $5, lease_expires_at = $6
            WHERE j.id = ANY (ARRAY(SELECT picked.id FROM picked))
            RETURNING \(PostgresCoding.claimedColumns), array_position($1::text[], j.queue)::int8
            """
        claim = """
            WITH demand AS (
                SELECT d.queue, d.lim, d.ord FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS d(queue, lim, ord)
                WHERE NOT EXISTS (
                    SELECT 1 FROM \(s)queues p WHERE p.name = d.queue
                    AND (p.paused OR ((p.max_running IS NOT NULL OR p.rate_limit IS NOT NULL) AND d.queue <> ALL($7::text[])))
                )
            ), \(picked)
            \(take)
            """
        // The claim in one statement, for the pool's connections (prepared, with bitmap and
        // sequential scans off for the session; see `PostgresStorage.init`): it commits without
        // waiting for the WAL flush (`set_config` with is_local lasts until this statement's
        // own commit), and when a demanded queue has limits it claims nothing and says so
        // (column 14), leaving the claim to the transaction above. Two more columns tell the
        // wait that may follow (see `PostgresStorage.waitForWork`) what the claim saw: the
        // earliest run-at of a scheduled job still to come (as `ready`'s), and how many due
        // jobs the demanded queues held as the statement began (each counted up to its limit
        // and one more), claimed or not: more than were claimed means some were left (locked
        // by another transaction, or over a limit). The LEFT JOIN gives one row even when
        // nothing was claimed.
        fastClaimParts = PostgresSplitStatement(
            ctes: """
                    limited AS (
                    SELECT EXISTS (
                        SELECT 1 FROM \(s)queues p WHERE p.name = ANY($1::text[]) AND NOT p.paused
                        AND (p.max_running IS NOT NULL OR p.rate_limit IS NOT NULL)
                    ) AS found, set_config('synchronous_commit', 'off', true) AS sync,
                    (SELECT MIN(run_at) FROM \(jobs) WHERE state = 'scheduled' AND run_at > $3) AS next_due
                ), demand AS (
                    SELECT d.queue, d.lim, d.ord FROM limited, unnest($1::text[], $2::int8[]) WITH ORDINALITY AS d(queue, lim, ord)
                    WHERE NOT limited.found AND NOT EXISTS (SELECT 1 FROM \(s)queues p WHERE p.name = d.queue AND p.paused)
                ), \(picked), claimed AS (
                    \(take)
                ), due AS (
                    SELECT count(*) AS n FROM demand CROSS JOIN LATERAL (
                        SELECT 1 FROM \(jobs) j
                        WHERE j.queue = demand.queue AND j.state IN ('available', 'scheduled')
                          AND (j.state = 'available' OR j.run_at <= $3)
                        LIMIT demand.lim + 1
                    ) v
                )
                """,
            select: "SELECT claimed.*, limited.found, limited.next_due, due.n FROM limited CROSS JOIN due LEFT JOIN claimed ON true")
        let appendedError = """
            j.errors || jsonb_build_array(CASE WHEN o.own_attempt THEN jsonb_set(o.error::jsonb, '{attempt}', to_jsonb(j.attempt)) ELSE o.error::jsonb END)
            """
        finishParts = PostgresSplitStatement(
            ctes: """
                done AS (
                UPDATE \(jobs) j SET
                    state = o.state,
                    attempt = j.attempt + o.delta,
                    run_at = CASE WHEN o.set_run_at THEN o.run_at ELSE j.run_at END,
                    finished_at = CASE WHEN o.finished THEN o.at END,
                    result = CASE WHEN o.has_result THEN o.result ELSE j.result END,
                    errors = CASE WHEN o.has_error THEN \(PostgresCoding.capped(appendedError)) ELSE j.errors END,
                    lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
                FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int8[], $5::bool[], $6::bool[], $7::int8[], $8::bytea[],
                            $9::bool[], $10::text[], $11::bool[], $12::bool[])
                    AS o(id, state, delta, run_at, set_run_at, finished, at, result, has_result, error, has_error, own_attempt)
                WHERE j.id = o.id AND j.state = 'running' AND j.lease_owner = $13
                RETURNING j.id, j.state, j.queue, j.watched, j.has_dependents OR j.batch_id IS NOT NULL AS workflow
                ), \(Self.notifyWatched(channel: "$14", finished: "state IN (\(PostgresSchema.finishedStates))"))
                """,
            select: "SELECT done.id, done.state, done.queue, done.workflow FROM done, notified")
        // The same for a batch of successes only, nearly every batch: four columns of input
        // instead of twelve, no per-row choices, and one row back instead of one per job: the
        // queues of the finished jobs, and the jobs not finished (their lease was gone), which
        // is nearly always none.
        finishSucceededParts = PostgresSplitStatement(
            ctes: """
                done AS (
                    UPDATE \(jobs) j SET
                        state = 'succeeded', finished_at = o.at,
                        result = CASE WHEN o.has_result THEN o.result ELSE j.result END,
                        lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
                    FROM unnest($1::uuid[], $2::int8[], $3::bytea[], $4::bool[]) AS o(id, at, result, has_result)
                    WHERE j.id = o.id AND j.state = 'running' AND j.lease_owner = $5
                    RETURNING j.id, j.queue, j.watched, j.has_dependents OR j.batch_id IS NOT NULL AS workflow
                ), \(Self.notifyWatched(channel: "$6", finished: "true"))
                """,
            select: """
                SELECT ARRAY(SELECT DISTINCT queue FROM done),
                       ARRAY(SELECT i.id FROM unnest($1::uuid[]) AS i(id) WHERE i.id NOT IN (SELECT id FROM done)),
                       EXISTS (SELECT 1 FROM done WHERE workflow)
                FROM notified
                """)
        heartbeat = """
            UPDATE \(jobs) j SET lease_expires_at = $1, progress = CASE WHEN b.has THEN b.progress::jsonb ELSE j.progress END
            FROM unnest($2::uuid[], $3::text[], $4::bool[]) AS b(id, progress, has)
            WHERE j.id = b.id AND j.state = 'running' AND j.lease_owner = $5
            RETURNING j.id
            """
        let poisoned = "(LEAST(j.expired_leases, 2147483646) + 1 > $2)"
        let rescueErrors = """
            j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'at', $1::bigint,
                'message', 'the lease of worker ''' || COALESCE(j.lease_owner, '?') || ''' expired (worker crashed or hung)',
                'reason', 'lease_expired'))
            || CASE WHEN \(poisoned) THEN jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'at', $1::bigint,
                'message', 'poison job: its lease expired ' || (LEAST(j.expired_leases, 2147483646) + 1) || ' times in a row', 'reason', 'poison'))
               ELSE '[]'::jsonb END
            """
        rescue = """
            WITH expired AS (
                SELECT id FROM \(jobs) WHERE state = 'running' AND lease_expires_at < $1 ORDER BY id FOR UPDATE SKIP LOCKED
            )
            UPDATE \(jobs) j SET
                expired_leases = LEAST(j.expired_leases, 2147483646) + 1,
                state = CASE WHEN \(poisoned) THEN 'dead' ELSE 'available' END,
                finished_at = CASE WHEN \(poisoned) THEN $1 END,
                errors = \(PostgresCoding.capped("(\(rescueErrors))")),
                lease_owner = NULL, lease_expires_at = NULL
            FROM expired WHERE j.id = expired.id
            RETURNING j.id, j.state, j.queue
            """
        // Queues at a limit are closed like paused ones; the earliest start in a full rate
        // window says when to look again (early rather than late).
        ready = """
            WITH settings AS (
                SELECT p.name,
                    p.paused
                    OR (p.max_running IS NOT NULL
                        AND (SELECT COUNT(*) FROM \(jobs) r WHERE r.state = 'running' AND r.queue = p.name) >= p.max_running)
                    OR (p.rate_limit IS NOT NULL
                        AND (SELECT COALESCE(SUM(w.count), 0) FROM \(s)queue_starts w WHERE w.queue = p.name AND w.at > $2 - p.rate_period_us) >= p.rate_limit)
                    AS closed,
                    CASE WHEN p.rate_limit IS NOT NULL THEN
                        (SELECT MIN(w.at) + p.rate_period_us FROM \(s)queue_starts w WHERE w.queue = p.name AND w.at > $2 - p.rate_period_us)
                    END AS reopens
                FROM \(s)queues p WHERE p.name = ANY($1::text[])
            )
            SELECT
                EXISTS (
                    SELECT 1 FROM \(jobs) j
                    WHERE j.queue = ANY($1::text[]) AND j.state IN ('available', 'scheduled')
                      AND (j.state = 'available' OR j.run_at <= $2)
                      AND NOT EXISTS (SELECT 1 FROM settings WHERE name = j.queue AND closed)
                ),
                LEAST(
                    (SELECT MIN(run_at) FROM \(jobs) WHERE state = 'scheduled' AND run_at > $2),
                    (SELECT MIN(reopens) FROM settings WHERE closed)
                )
            """
        job = "SELECT \(PostgresCoding.recordColumns(s)) FROM \(jobs) WHERE id = $1"
        stats = "SELECT queue, state, COUNT(*) FROM \(jobs) GROUP BY state, queue"
        retry = """
            UPDATE \(jobs) j
            SET state = 'available', attempt = 0, run_at = $2, expired_leases = 0, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL
            WHERE j.id = ANY($1::uuid[]) AND j.state IN ('dead', 'cancelled')
              AND (j.unique_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM \(jobs) o WHERE o.unique_key = j.unique_key AND o.state IN (\(live))))
            RETURNING j.id, j.queue
            """
        let cancelErrors = """
            j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'at', $2::bigint, 'message', 'cancelled by request', 'reason', 'cancelled'))
            """
        cancel = """
            UPDATE \(jobs) j
            SET state = 'cancelled', finished_at = $2, errors = \(PostgresCoding.capped("(\(cancelErrors))")), lease_owner = NULL, lease_expires_at = NULL
            WHERE j.id = ANY($1::uuid[]) AND j.state IN (\(live))
            RETURNING j.id
            """
        // For its batch and its dependents, an unfinished job of a workflow that is deleted was
        // cancelled (at $2): the statement before the delete, in its transaction.
        cancelBeforeDelete = """
            UPDATE \(jobs) SET state = 'cancelled', finished_at = $2, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ANY($1::uuid[]) AND (batch_id IS NOT NULL OR has_dependents) AND state IN (\(live))
            """
        delete = "DELETE FROM \(jobs) WHERE id = ANY($1::uuid[]) RETURNING id"
        watch = "UPDATE \(jobs) SET watched = true WHERE id = $1 AND NOT watched"
        prune = """
            WITH gone AS (
                DELETE FROM \(jobs) WHERE id IN (
                    SELECT id FROM \(jobs) WHERE state IN (\(PostgresSchema.finishedStates)) AND finished_at < $1
                    ORDER BY finished_at LIMIT $2
                ) RETURNING 1
            ), gone_batches AS (
                DELETE FROM \(s)batches WHERE id IN (
                    SELECT id FROM \(s)batches WHERE finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at LIMIT $2
                ) RETURNING id
            ), gone_callbacks AS (
                DELETE FROM \(s)batch_callbacks WHERE batch_id IN (SELECT id FROM gone_batches)
            )
            SELECT COUNT(*) FROM gone
            """
        setPaused = """
            INSERT INTO \(s)queues (name, paused) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
            """
        paused = "SELECT name FROM \(s)queues WHERE paused"
        // First in a claim's transaction: the claim then reads its index in order whatever the
        // table's statistics say, and commits without waiting for the WAL flush (see
        // `PostgresStorage.claimRows`); and it locks the limited queues among those demanded
        // (in name order), so claims of one limited queue take turns and count what the last
        // one committed.
        claimLocks = """
            SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true),
                   set_config('synchronous_commit', 'off', true),
                   ARRAY(SELECT p.name FROM \(s)queues p
                         WHERE p.name = ANY($1::text[]) AND NOT p.paused AND (p.max_running IS NOT NULL OR p.rate_limit IS NOT NULL)
                         ORDER BY p.name FOR UPDATE)
            """
        // The limits of the (locked) queues $1 with what counts against them at $2: running
        // jobs, and the starts in the rate window, oldest first.
        limitedQueues = """
            SELECT p.name, p.max_running, p.rate_limit, p.rate_period_us,
                (SELECT COUNT(*) FROM \(jobs) r WHERE r.state = 'running' AND r.queue = p.name),
                ARRAY(SELECT w.at FROM \(s)queue_starts w WHERE w.queue = p.name AND w.at > $2 - p.rate_period_us ORDER BY w.at),
                ARRAY(SELECT w.count::int8 FROM \(s)queue_starts w WHERE w.queue = p.name AND w.at > $2 - p.rate_period_us ORDER BY w.at)
            FROM \(s)queues p WHERE p.name = ANY($1::text[])
            """
        // Drops starts that left their window and records the claim's starts ($2 at $1).
        recordStarts = """
            WITH dropped AS (
                DELETE FROM \(s)queue_starts w USING \(s)queues p
                WHERE w.queue = p.name AND p.name = ANY($2::text[]) AND w.at <= $1 - p.rate_period_us
            )
            INSERT INTO \(s)queue_starts (queue, at, count)
            SELECT q, $1, n FROM unnest($2::text[], $3::int4[]) AS s(q, n) WHERE n > 0
            """
        setLimits = """
            WITH dropped AS (DELETE FROM \(s)queue_starts WHERE queue = $1 AND $3::int4 IS NULL)
            INSERT INTO \(s)queues (name, max_running, rate_limit, rate_period_us) VALUES ($1, $2, $3, $4)
            ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running,
                rate_limit = excluded.rate_limit, rate_period_us = excluded.rate_period_us
            """
        limits = """
            SELECT name, max_running, rate_limit, rate_period_us FROM \(s)queues
            WHERE max_running IS NOT NULL OR rate_limit IS NOT NULL
            """
        notify = "SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q"
        let dbNow = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"
        acquireLeader = """
            INSERT INTO \(s)leaders AS l (name, holder, expires_at) VALUES ($1, $2, \(dbNow) + $3)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
            WHERE l.holder = excluded.holder OR l.expires_at < \(dbNow)
            RETURNING holder
            """
        releaseLeader = "DELETE FROM \(s)leaders WHERE name = $1 AND holder = $2"
    }
}
