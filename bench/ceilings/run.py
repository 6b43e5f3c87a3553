"""A bare ceiling for W3: the fastest reasonable batched claim-and-finish loop on one store.

    python run.py redis    redis://127.0.0.1:PORT/0                     [JOBS] [BATCH] [LOOPS]
    python run.py sqlite   PATH (must not exist; deleted afterwards)    [JOBS] [BATCH] [LOOPS]
    python run.py postgres postgres://USER:PASSWORD@HOST:PORT/DB        [JOBS] [BATCH] [LOOPS]

Defaults: 10000 jobs, batch 1000, 1 loop. Redis and SQLite need only the standard library;
PostgreSQL needs asyncpg (and uses uvloop when it imports), pinned in requirements.txt here and
installed by scripts/bench-compare into its venv ($SPOOL_PEERS_VENV).

W3 as docs/benchmarks.md defines it, with no job semantics: JOBS jobs are stored first (not
timed), each a record of its own with a 2-byte payload (`{}`) and an id, in a fresh store (a
key prefix with our pid on Redis, a new file on SQLite, a new schema on PostgreSQL, all deleted
afterwards). Then LOOPS loops start at once, each on a connection of its own (threads on Redis
and SQLite, asyncio tasks on PostgreSQL), and each repeats until a claim comes back empty:

    claim   one atomic step: take up to BATCH due jobs in id order and mark them running;
            returns each job's id and payload
    finish  one atomic step: mark those jobs done (the record stays, as Spool keeps finished jobs)

Both steps are as durable as Spool's are on the same store: on Redis whatever the server does
(scripts/redis: append-only file, fsync every second); on SQLite a commit in WAL mode that does
not wait for the disk (`synchronous = NORMAL`, as Spool's claims and outcomes), with the WAL
checkpointed (and so synced) off the loops' threads; on PostgreSQL a plain autocommit statement
under the server's settings (scripts/postgres: fsync on, synchronous_commit on). What the loops
do not do: leases, retries, priorities or queues beyond the one ORDER BY, unique keys, stats,
middleware, decoding payloads, waking anybody. The backends are in redis_ceiling.py,
sqlite_ceiling.py and postgres_ceiling.py.

The clock starts right before the first claim (every connection is open by then) and stops
when the last finish has committed. Exactly-once is checked on what the loops received: `lost`
counts jobs no claim returned, `twice` jobs returned more than once. Prints one JSON object on
its last stdout line: {"backend", "jobs", "batch", "loops", "jobs_per_s", "seconds", "lost",
"twice"}; exits 1 (after printing it) when a job was lost or ran twice, as that is no ceiling.
"""

import json
import sys
import threading
import time

sys.dont_write_bytecode = True  # the backends are imported from this folder; leave no __pycache__

PAYLOAD = b"{}"
BACKENDS = ("redis", "sqlite", "postgres")


def usage(problem):
    sys.exit(f"run.py: {problem}\nusage: python run.py redis|sqlite|postgres URL_OR_PATH [JOBS] [BATCH] [LOOPS]")


def parse(argv):
    if len(argv) < 3 or argv[1] not in BACKENDS:
        usage("name a backend and its URL or path")
    try:
        jobs, batch, loops = (int(argv[i]) if len(argv) > i else d for i, d in ((3, 10_000), (4, 1_000), (5, 1)))
    except ValueError:
        usage("JOBS, BATCH and LOOPS are whole numbers")
    if not (1 <= jobs <= 10_000_000 and 1 <= batch <= 100_000 and 1 <= loops <= 64):
        usage("JOBS must be 1…10,000,000, BATCH 1…100,000 and LOOPS 1…64")
    return argv[1], argv[2], jobs, batch, loops


def limit_s(jobs):
    """How long the loops may take, in all: far beyond any store's pace, yet bounded."""
    return 60 + jobs / 2_000


class LoopResult:
    """What one loop saw: the ids and payloads its claims returned, and when its last finish
    committed (monotonic ns; None if it claimed nothing)."""

    def __init__(self):
        self.ids = []
        self.payloads = []
        self.last_finish_ns = None


def threaded(loops, open_loop, limit):
    """Runs LOOPS claim→finish loops on threads; returns (start ns, [LoopResult]).

    `open_loop()` runs on each loop's thread before the clock starts and returns an object with
    claim() → (ids, payloads), finish(ids) and close(). The blocking calls of sqlite3 and of
    sockets release the interpreter lock, so the loops' round trips overlap."""
    start = []
    barrier = threading.Barrier(loops, action=lambda: start.append(time.monotonic_ns()))
    results, errors = [LoopResult() for _ in range(loops)], []

    def body(result):
        try:
            loop = open_loop()
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
            barrier.abort()
            return
        try:
            barrier.wait()
            deadline = start[0] + limit * 1e9
            while True:
                ids, payloads = loop.claim()
                if not ids:
                    break
                loop.finish(ids)
                result.last_finish_ns = time.monotonic_ns()
                result.ids += ids
                result.payloads += payloads
                if result.last_finish_ns > deadline:
                    raise TimeoutError(f"the loops took longer than {limit:.0f} s")
        except threading.BrokenBarrierError:
            pass  # another loop failed to open; its error is reported
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            loop.close()

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(limit + 30)
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"a loop did not end within {limit + 30:.0f} s")
    return start[0], results


def summary(backend, jobs, batch, loops, start_ns, results):
    counts = bytearray(jobs)  # saturates at 255: we only need 0, 1 and more
    strangers = 0
    for result in results:
        for job in result.ids:
            if 0 <= job < jobs:
                counts[job] = min(255, counts[job] + 1)
            else:
                strangers += 1
    if strangers or any(p != PAYLOAD for r in results for p in r.payloads):
        raise RuntimeError(f"a claim returned {strangers} unknown id(s) or a payload other than {PAYLOAD!r}")
    ends = [r.last_finish_ns for r in results if r.last_finish_ns is not None]
    seconds = (max(ends) - start_ns) / 1e9 if ends else float("nan")
    return {
        "backend": backend,
        "jobs": jobs,
        "batch": batch,
        "loops": loops,
        "jobs_per_s": jobs / seconds if ends else 0.0,
        "seconds": seconds,
        "lost": counts.count(0),
        "twice": jobs - counts.count(0) - counts.count(1),
    }


def main():
    backend, target, jobs, batch, loops = parse(sys.argv)
    if backend == "redis":
        import redis_ceiling as store
    elif backend == "sqlite":
        import sqlite_ceiling as store
    else:
        import postgres_ceiling as store
    start_ns, results = store.run(target, jobs, batch, loops, limit_s(jobs))
    figures = summary(backend, jobs, batch, loops, start_ns, results)
    print(json.dumps(figures), flush=True)
    if figures["lost"] or figures["twice"]:
        sys.exit(f"run.py: {figures['lost']} job(s) lost and {figures['twice']} run twice: not a ceiling")


if __name__ == "__main__":
    main()
