"""pgqueuer's W3 and W4, defined as in docs/benchmarks.md, through pgqueuer's documented API.

    python run.py w3 DSN [JOBS] [BATCH]   default 10000 jobs, batch size 1000
    python run.py w4 DSN [JOBS] [BATCH]   default 2000 jobs (200/s for 10 s), batch size 10

Every run installs pgqueuer's tables into a new schema (PGQUEUER_SCHEMA, set here before
pgqueuer is imported) and drops it afterwards, as `spool bench` uses a new schema per run.

W3: Queries.enqueue puts JOBS no-op jobs in the queue (lists of 1,000 per call), then a
QueueManager (one process, one asyncpg connection, uvloop as pgqueuer's own runner uses) starts
with `run(batch_size=BATCH)`; the figure is JOBS over the time from just before `run` to the last
job's finish (the clock is read as `spool bench` reads it: before Worker.run, and in the handler).
W4: the QueueManager starts first (batch size 10, pgqueuer's default, wakes on its LISTEN/NOTIFY);
a producer in the same process, on its own connection, enqueues one job every 5 ms (deadline-based)
carrying time.monotonic_ns() read right before the call; the job records start - enqueue.

Prints one JSON object on stdout.
"""

import asyncio
import json
import math
import os
import sys
import time

WORKLOAD = sys.argv[1] if len(sys.argv) > 1 else ""
if WORKLOAD not in ("w3", "w4") or len(sys.argv) < 3:
    sys.exit("usage: python run.py w3|w4 DSN [JOBS] [BATCH]")
W3 = WORKLOAD == "w3"
DSN = sys.argv[2]
JOBS = int(sys.argv[3]) if len(sys.argv) > 3 else (10_000 if W3 else 2_000)
BATCH = int(sys.argv[4]) if len(sys.argv) > 4 else (1_000 if W3 else 10)
INTERVAL_NS = 5_000_000  # W4: one job every 5 ms
SCHEMA = f"pgq_bench_{os.getpid()}"
os.environ["PGQUEUER_SCHEMA"] = SCHEMA

import asyncpg  # noqa: E402
import uvloop  # noqa: E402
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager  # noqa: E402
from pgqueuer import __version__ as PGQUEUER_VERSION  # noqa: E402


def percentile(p, ordered):
    """Nearest-rank percentile, as `spool bench` computes it."""
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered) - 1, max(0, rank - 1))]


class Tally:
    """What the jobs record: which ran (and how often), latencies, the last finish."""

    def __init__(self):
        self.count = 0
        self.runs = {}
        self.latencies_ns = []
        self.done_ns = None
        self.all_done = asyncio.Event()

    def ran(self, index, latency_ns=None):
        self.count += 1
        self.runs[index] = self.runs.get(index, 0) + 1
        if latency_ns is not None:
            self.latencies_ns.append(latency_ns)
        if self.count == JOBS:
            self.done_ns = time.monotonic_ns()
            self.all_done.set()


async def main():
    admin = await asyncpg.connect(DSN)
    worker_conn = await asyncpg.connect(DSN)
    producer_conn = await asyncpg.connect(DSN)
    try:
        producer = Queries(AsyncpgDriver(producer_conn))
        await producer.install()
        figures = await (drain(worker_conn, producer) if W3 else latency(worker_conn, producer))
    finally:
        for conn in (worker_conn, producer_conn):
            await conn.close()
        await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await admin.close()
    print(json.dumps(figures))


def manager_for(conn, tally):
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        tally.ran(int(job.payload))

    @qm.entrypoint("latency")
    async def latency_job(job: Job) -> None:
        started = time.monotonic_ns()
        index, enqueued = job.payload.split(b" ")
        tally.ran(int(index), started - int(enqueued))

    return qm


async def run_until_done(qm, tally, limit_s, producer=None):
    """Runs the manager (and the producer) until every job has run; bounded by limit_s."""
    worker = asyncio.create_task(qm.run(batch_size=BATCH))
    tasks = [worker] + ([asyncio.create_task(producer)] if producer else [])
    try:
        await asyncio.wait_for(tally.all_done.wait(), limit_s)
    except asyncio.TimeoutError:
        sys.exit(f"pgqueuer: timed out after {limit_s} s: {tally.count} of {JOBS} jobs ran")
    finally:
        qm.shutdown.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def drain(conn, producer):
    for start in range(0, JOBS, 1_000):
        indexes = range(start, min(JOBS, start + 1_000))
        await producer.enqueue(["noop"] * len(indexes), [str(i).encode() for i in indexes], [0] * len(indexes))
    tally = Tally()
    qm = manager_for(conn, tally)
    started = time.monotonic_ns()
    await run_until_done(qm, tally, 60 + JOBS / 10_000)
    return summary(tally, jobs_per_s=JOBS / ((tally.done_ns - started) / 1e9))


async def latency(conn, producer):
    tally = Tally()
    qm = manager_for(conn, tally)

    async def produce():
        await asyncio.sleep(1)  # let the manager install its listener and run its first dequeue
        start = time.monotonic_ns()
        for index in range(JOBS):
            wait = start + index * INTERVAL_NS - time.monotonic_ns()
            if wait > 0:
                await asyncio.sleep(wait / 1e9)
            await producer.enqueue("latency", f"{index} {time.monotonic_ns()}".encode())

    await run_until_done(qm, tally, 60 + JOBS / 200, produce())
    ordered = sorted(ns / 1e6 for ns in tally.latencies_ns)
    return summary(
        tally,
        p50_ms=percentile(50, ordered),
        p99_ms=percentile(99, ordered),
        p999_ms=percentile(99.9, ordered),
        max_ms=ordered[-1],
    )


def summary(tally, **figures):
    return {
        "peer": "pgqueuer",
        "version": PGQUEUER_VERSION,
        "workload": WORKLOAD.upper(),
        "jobs": JOBS,
        "batch_size": BATCH,
        "lost": JOBS - len(tally.runs),
        "twice": sum(1 for n in tally.runs.values() if n > 1),
        **figures,
    }


if __name__ == "__main__":
    uvloop.run(main())
