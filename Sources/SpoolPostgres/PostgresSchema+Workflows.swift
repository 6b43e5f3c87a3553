// PostgresSchema: version 6, workflows (the `pending` state, batches, callbacks, dependencies)
// and the triggers that keep their bookkeeping in the statement that moves a job.

extension PostgresSchema {
    /// Workflows (#21). Every statement that moves jobs into or out of a final state (a
    /// finish, a cancel, a rescue, a retry, from any process) runs one statement-level
    /// trigger over the rows it moved, so the bookkeeping commits with the outcome:
    ///
    /// - each batch whose jobs moved is counted once per statement (one row update per batch,
    ///   not per job), in batch id order; the batch's row lock orders concurrent finishes, so
    ///   exactly one of them sees the batch finish, and it enqueues the callbacks (each once:
    ///   a callback row is marked fired in the same statement);
    /// - the jobs with dependents that ended are settled by the outermost trigger, in a loop
    ///   before the statement returns: dependents whose last dependency ended are
    ///   released, those whose dependency failed are cancelled (and join the loop's queue, so
    ///   a chain of any length cascades without recursion).
    ///
    /// Statements that move no workflow job pay one scan of the rows they moved.
    static let workflows = Migration(
        version: 6, name: "workflows: pending jobs, batches and dependencies",
        statements: [
            "ALTER TABLE {S}.jobs DROP CONSTRAINT jobs_state_check",
            """
            ALTER TABLE {S}.jobs ADD CONSTRAINT jobs_state_check
                CHECK (state IN ('pending', 'scheduled', 'available', 'running', 'succeeded', 'dead', 'cancelled'))
            """,
            // batch_id: the batch (NULL outside batches); waiting_on: dependencies that have not
            // ended (NULL without dependencies); on_dependency_failure: 'cancel' or 'run' (NULL
            // without dependencies); has_dependents: some job depends on it.
            """
            ALTER TABLE {S}.jobs ADD COLUMN batch_id uuid, ADD COLUMN waiting_on integer, ADD COLUMN on_dependency_failure text,
                ADD COLUMN has_dependents boolean NOT NULL DEFAULT false
            """,
            "DROP INDEX {S}.jobs_unique_key",
            """
            CREATE UNIQUE INDEX jobs_unique_key ON {S}.jobs (unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('pending', 'scheduled', 'available', 'running')
            """,
            "DROP INDEX {S}.jobs_state",
            "CREATE INDEX jobs_state ON {S}.jobs (state, queue, id) WHERE state IN ('pending', 'scheduled', 'dead', 'cancelled')",
            "CREATE INDEX jobs_batch ON {S}.jobs (batch_id, id) WHERE batch_id IS NOT NULL",
            """
            CREATE TABLE {S}.batches (
                id           uuid   NOT NULL PRIMARY KEY,
                created_at   bigint NOT NULL,
                finished_at  bigint,          -- the first time every job was final (callbacks fired then)
                cancelled_at bigint,
                total        bigint NOT NULL,
                succeeded    bigint NOT NULL DEFAULT 0,
                dead         bigint NOT NULL DEFAULT 0,
                cancelled    bigint NOT NULL DEFAULT 0,
                last_at      bigint           -- when a job of the batch last reached a final state
            )
            """,
            "CREATE INDEX batches_finished ON {S}.batches (finished_at) WHERE finished_at IS NOT NULL",
            // A batch's callbacks: the job to enqueue (the columns of jobs it needs) per event.
            """
            CREATE TABLE {S}.batch_callbacks (
                batch_id     uuid    NOT NULL,
                event        text    NOT NULL CHECK (event IN ('success', 'complete', 'dead')),
                fired        boolean NOT NULL DEFAULT false,
                id           uuid    NOT NULL,
                queue        text    NOT NULL,
                kind         text    NOT NULL,
                payload      bytea   NOT NULL,
                priority     bigint  NOT NULL,
                max_attempts integer NOT NULL,
                run_at       bigint  NOT NULL,
                created_at   bigint  NOT NULL,
                timeout_us   bigint,
                metadata     jsonb,            -- with the batch's id and the event already in it
                PRIMARY KEY (batch_id, event)
            )
            """,
            "CREATE TABLE {S}.dependencies (job_id uuid NOT NULL, depends_on uuid NOT NULL, PRIMARY KEY (job_id, depends_on))",
            "CREATE INDEX dependencies_depends_on ON {S}.dependencies (depends_on)",
            // A job id as Spool writes it (26 characters of Crockford base 32), for messages.
            """
            CREATE FUNCTION {S}.id_text(u uuid) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
            DECLARE
                b bytea := decode(replace(u::text, '-', ''), 'hex');
                digits text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
                result text := '';
                v int;
                pos int;
            BEGIN
                FOR i IN 0..25 LOOP
                    v := 0;
                    FOR k IN 0..4 LOOP
                        pos := i * 5 + k - 2;
                        v := v * 2 + CASE WHEN pos < 0 THEN 0 ELSE get_bit(b, (pos / 8) * 8 + 7 - pos % 8) END;
                    END LOOP;
                    result := result || substr(digits, v + 1, 1);
                END LOOP;
                RETURN result;
            END $$
            """,
            // Enqueues batch `b`'s callbacks for `events` that have not fired, due at `at` at the
            // earliest, whatever their queue holds, and wakes the workers of their queues.
            """
            CREATE FUNCTION {S}.fire_callbacks(b uuid, events text[], at bigint) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                q text;
            BEGIN
                FOR q IN
                    WITH fired AS (
                        UPDATE {S}.batch_callbacks SET fired = true WHERE batch_id = b AND event = ANY(events) AND NOT fired RETURNING *
                    ), stored AS (
                        INSERT INTO {S}.jobs (id, queue, kind, payload, priority, state, max_attempts, run_at, created_at, timeout_us, metadata)
                        SELECT id, queue, kind, payload, priority, CASE WHEN run_at > at THEN 'scheduled' ELSE 'available' END,
                            max_attempts, GREATEST(run_at, at), created_at, timeout_us, metadata
                        FROM fired
                        ON CONFLICT (id) DO NOTHING
                        RETURNING queue
                    )
                    SELECT DISTINCT queue FROM stored
                LOOP
                    PERFORM pg_notify('{C}', q);
                END LOOP;
            END $$
            """,
            // The batch's first finish (every job final): on_complete, and on_success when every
            // job succeeded and the batch was not cancelled; its waiters are told (the finish
            // notification's prefix and the batch's id). The caller holds the batch's row lock.
            """
            CREATE FUNCTION {S}.settle_batch(b uuid) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                r {S}.batches;
                at bigint;
            BEGIN
                SELECT * INTO r FROM {S}.batches WHERE id = b;
                IF NOT FOUND OR r.finished_at IS NOT NULL OR r.succeeded + r.dead + r.cancelled < r.total THEN
                    RETURN;
                END IF;
                at := COALESCE(r.last_at, r.created_at);
                UPDATE {S}.batches SET finished_at = at WHERE id = b;
                IF r.succeeded >= r.total AND r.cancelled_at IS NULL THEN
                    PERFORM {S}.fire_callbacks(b, ARRAY['complete', 'success'], at);
                ELSE
                    PERFORM {S}.fire_callbacks(b, ARRAY['complete'], at);
                END IF;
                PERFORM pg_notify('{C}', chr(1) || b::text);
            END $$
            """,
            jobsMoved(
                create: "CREATE FUNCTION",
                dependents: "state = 'pending' AND id IN (SELECT job_id FROM {S}.dependencies WHERE depends_on = ended[i])"),
            """
            CREATE TRIGGER jobs_moved AFTER UPDATE ON {S}.jobs REFERENCING OLD TABLE AS moved_old NEW TABLE AS moved_new
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.jobs_moved()
            """,
            // A deleted dependent's dependencies go with it.
            """
            CREATE FUNCTION {S}.jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM {S}.dependencies WHERE job_id = OLD.id;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER jobs_deleted AFTER DELETE ON {S}.jobs FOR EACH ROW WHEN (OLD.waiting_on IS NOT NULL)
            EXECUTE FUNCTION {S}.jobs_deleted()
            """,
        ])

    /// The statement-level trigger function over the jobs an `UPDATE` moved (see
    /// ``workflows``), created with `create` (`CREATE FUNCTION` or `CREATE OR REPLACE
    /// FUNCTION`); `dependents` picks the pending dependents of `ended[i]` (a migration's text
    /// never changes, so each version passes its own).
    static func jobsMoved(create: String, dependents: String) -> String {
        return """
            \(create) {S}.jobs_moved() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                m record;
                r record;
                q text;
                ended uuid[];
                ended_states text[];
                ended_at bigint[];
                i int := 1;
                batched boolean;
                depended boolean;
            BEGIN
                SELECT bool_or(batch_id IS NOT NULL), bool_or(has_dependents) INTO batched, depended FROM moved_new;
                -- Dependencies first: the rows this statement moved are locked, the dependents next, their
                -- batches (in the loop's own statements) and then this statement's batches last, the order
                -- in which every statement locks (rows, then batches). The loop's statements run this
                -- trigger again, one level deeper: there it only counts.
                IF depended AND pg_trigger_depth() = 1 THEN
                    -- Dependencies: the jobs with dependents that reached a final state, then those the
                    -- loop cancels in turn (a queue, so a chain of any length cascades without recursion).
                    SELECT array_agg(n.id), array_agg(n.state), array_agg(COALESCE(n.finished_at, 0)) INTO ended, ended_states, ended_at
                    FROM moved_new n
                    WHERE n.has_dependents AND n.state IN ('succeeded', 'dead', 'cancelled')
                        AND NOT EXISTS (SELECT 1 FROM moved_old o WHERE o.id = n.id AND o.state IN ('succeeded', 'dead', 'cancelled'));
                    WHILE i <= cardinality(ended) LOOP
                        -- Release the dependents whose last dependency this was (or count it off).
                        FOR q IN
                            UPDATE {S}.jobs SET waiting_on = waiting_on - 1,
                                state = CASE WHEN waiting_on > 1 THEN 'pending' WHEN run_at > ended_at[i] THEN 'scheduled' ELSE 'available' END
                            WHERE \(dependents)
                                AND (ended_states[i] = 'succeeded' OR on_dependency_failure = 'run')
                            RETURNING CASE WHEN state <> 'pending' THEN queue END
                        LOOP
                            IF q IS NOT NULL THEN
                                PERFORM pg_notify('{C}', q);
                            END IF;
                        END LOOP;
                        IF ended_states[i] <> 'succeeded' THEN
                            FOR r IN
                                UPDATE {S}.jobs SET state = 'cancelled', finished_at = ended_at[i], lease_owner = NULL, lease_expires_at = NULL,
                                    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', ended_at[i],
                                        'message', 'dependency ' || {S}.id_text(ended[i]) || ' ended ' || ended_states[i],
                                        'reason', 'dependency_failed'))
                                WHERE \(dependents)
                                    AND on_dependency_failure <> 'run'
                                RETURNING id, has_dependents, watched
                            LOOP
                                IF r.watched THEN
                                    PERFORM pg_notify('{C}', chr(1) || r.id::text);
                                END IF;
                                IF r.has_dependents THEN
                                    ended := ended || r.id;
                                    ended_states := ended_states || 'cancelled'::text;
                                    ended_at := ended_at || ended_at[i];
                                END IF;
                            END LOOP;
                        END IF;
                        i := i + 1;
                    END LOOP;
                END IF;
                -- Batches: the moves into (+1) and out of (-1) each final state, per batch, in id order.
                FOR m IN
                    SELECT batch_id, sum(s) AS s, sum(d) AS d, sum(c) AS c, max(at) AS at, bool_or(dead) AS dead FROM (
                        SELECT batch_id, (state = 'succeeded')::int AS s, (state = 'dead')::int AS d, (state = 'cancelled')::int AS c,
                            finished_at AS at, state = 'dead' AS dead
                        FROM moved_new WHERE batch_id IS NOT NULL AND state IN ('succeeded', 'dead', 'cancelled')
                        UNION ALL
                        SELECT batch_id, -(state = 'succeeded')::int, -(state = 'dead')::int, -(state = 'cancelled')::int, NULL, false
                        FROM moved_old WHERE batch_id IS NOT NULL AND state IN ('succeeded', 'dead', 'cancelled')
                    ) x WHERE batched GROUP BY batch_id ORDER BY batch_id
                LOOP
                    CONTINUE WHEN m.s = 0 AND m.d = 0 AND m.c = 0;
                    UPDATE {S}.batches SET succeeded = succeeded + m.s, dead = dead + m.d, cancelled = cancelled + m.c,
                        last_at = GREATEST(last_at, m.at)
                    WHERE id = m.batch_id;
                    IF m.dead THEN
                        PERFORM {S}.fire_callbacks(m.batch_id, ARRAY['dead'], COALESCE(m.at, 0));
                    END IF;
                    PERFORM {S}.settle_batch(m.batch_id);
                END LOOP;
                RETURN NULL;
            END $$
            """
    }

    /// Version 7: a dependency's release and cancel find the dependents by the dependencies
    /// index and then by primary key. Version 6's `state = 'pending' AND id IN (…)` let the
    /// planner, whose statistics of a job table that turns over are nearly always wrong, read
    /// every pending job through `jobs_state` instead: a step of a 1,000-job chain took 0.7 ms
    /// of the server's time, a release with 100,000 jobs pending far more. The state test is
    /// written so that no index on `state` can serve it.
    static let dependentsByIndex = Migration(
        version: 7, name: "workflows: dependents found by the dependencies index",
        statements: [
            jobsMoved(
                create: "CREATE OR REPLACE FUNCTION",
                dependents: "id = ANY (ARRAY(SELECT job_id FROM {S}.dependencies WHERE depends_on = ended[i])) AND state || '' = 'pending'")
        ])
}
