"""The PostgreSQL ceiling (see run.py): asyncpg, one asyncio task per loop, uvloop when it imports.

In a new schema `ceiling_PID`, dropped afterwards:

    CREATE TABLE jobs (id bigint PRIMARY KEY, state text NOT NULL, payload bytea NOT NULL)
    CREATE INDEX jobs_claim ON jobs (id) WHERE state = 'available'

claim = UPDATE jobs SET state = 'running' WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE
state = 'available' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) RETURNING id, payload.
finish = UPDATE jobs SET state = 'done' WHERE id = ANY($1) AND state = 'running' (every id must
match). The claim hands the picked ids over as an array, not as `id IN (SELECT …)`, which the
planner runs as a hash join over a sequential scan of the whole table; as an array each row is
one primary-key probe (Spool's claim does the same, for the same reason).

Each is one autocommit statement, one round trip (prepared on each connection before the clock
starts), committed under the server's settings (scripts/postgres: fsync on, synchronous_commit
on, as for Spool). The enqueue (not timed) is one INSERT … SELECT from generate_series, then
ANALYZE, so the claim's plan is the index's from the first claim on.
"""

import asyncio
import os
import time

import asyncpg

from run import PAYLOAD, LoopResult

try:
    import uvloop
except ImportError:
    uvloop = None


def statements(schema):
    claim = f"""
        UPDATE {schema}.jobs SET state = 'running'
        WHERE id = ANY(ARRAY(SELECT id FROM {schema}.jobs WHERE state = 'available' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))
        RETURNING id, payload
    """
    finish = f"UPDATE {schema}.jobs SET state = 'done' WHERE id = ANY($1::bigint[]) AND state = 'running'"
    return claim, finish


async def loop(claim, finish, batch, deadline_ns):
    """One claim→finish loop; `claim` and `finish` are statements prepared on its connection."""
    result = LoopResult()
    while True:
        rows = await claim.fetch(batch)
        if not rows:
            return result
        ids = [row[0] for row in rows]
        await finish.fetch(ids)
        status = finish.get_statusmsg()
        result.last_finish_ns = time.monotonic_ns()
        result.ids += ids
        result.payloads += [row[1] for row in rows]
        if status != f"UPDATE {len(ids)}":
            raise RuntimeError(f"finish of {len(ids)} jobs answered {status!r}")
        if result.last_finish_ns > deadline_ns:
            raise TimeoutError("the loops took too long")


async def main(dsn, jobs, batch, loops, limit):
    schema = f"ceiling_{os.getpid()}"
    claim, finish = statements(schema)
    admin = await asyncpg.connect(dsn, timeout=30)
    conns = []
    try:
        await admin.execute(f"""
            CREATE SCHEMA {schema};
            CREATE TABLE {schema}.jobs (id bigint PRIMARY KEY, state text NOT NULL, payload bytea NOT NULL);
            CREATE INDEX jobs_claim ON {schema}.jobs (id) WHERE state = 'available';
        """)
        await admin.execute(f"INSERT INTO {schema}.jobs (id, state, payload) "
                            f"SELECT i, 'available', $1 FROM generate_series(0, $2 - 1) AS i", PAYLOAD, jobs)
        await admin.execute(f"ANALYZE {schema}.jobs")
        prepared = []
        for _ in range(loops):  # every connection opened and its statements prepared before the clock
            conns.append(await asyncpg.connect(dsn, timeout=30))
            prepared.append((await conns[-1].prepare(claim), await conns[-1].prepare(finish)))
        start = time.monotonic_ns()
        tasks = [loop(c, f, batch, start + int(limit * 1e9)) for c, f in prepared]
        results = await asyncio.wait_for(asyncio.gather(*tasks), limit + 30)
        return start, results
    finally:
        for conn in conns:
            await conn.close(timeout=30)
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close(timeout=30)


def run(dsn, jobs, batch, loops, limit):
    coroutine = main(dsn, jobs, batch, loops, limit)
    return uvloop.run(coroutine) if uvloop else asyncio.run(coroutine)
