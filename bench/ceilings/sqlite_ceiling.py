"""The SQLite ceiling (see run.py): the standard library's sqlite3, threads, one new file.

    CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, payload BLOB NOT NULL)
    CREATE INDEX jobs_claim ON jobs (id) WHERE state = 'available'

claim = BEGIN IMMEDIATE; UPDATE jobs SET state = 'running' WHERE id IN (SELECT id FROM jobs
INDEXED BY jobs_claim WHERE state = 'available' ORDER BY id LIMIT ?) RETURNING id, payload;
COMMIT. finish = BEGIN IMMEDIATE; UPDATE jobs SET state = 'done' WHERE id IN (?, …) (every id
must match a running job); COMMIT.

Durability mirrors Spool's default (Sources/SpoolSQLite): WAL mode; the enqueue (not timed)
commits with `synchronous = FULL`; claims and finishes commit with `synchronous = NORMAL` (in the
WAL, safe from a crash of the process, synced later), as Spool's claims and outcomes do. As in
Spool, the WAL is checkpointed (which syncs it) on a connection and a thread of its own, not in
the loops' commits (their automatic checkpoint is off): a PASSIVE checkpoint every second,
Spool's sync interval. (Spool also checkpoints once the WAL reaches 1,000 pages; a claim or a
finish of 1,000 jobs here writes 5-12 pages, so this loop never gets there in W3 at 10,000
jobs.)

A loop that finds the write lock taken retries BEGIN IMMEDIATE every 0.1-1 ms for up to 10 s,
as Spool's BusyWait does: SQLite's own busy timeout sleeps up to 100 ms between tries, which
would starve the second loop and weaken the ceiling at LOOPS 2. The file (with its -wal and
-shm) is deleted afterwards.
"""

import os
import random
import sqlite3
import threading
import time

from run import PAYLOAD, threaded

CHECKPOINT_S = 1.0  # Spool's syncInterval: the longest an unsynced commit stays off the disk
BUSY_TIMEOUT_S = 10

CLAIM = """
    UPDATE jobs SET state = 'running'
    WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_claim WHERE state = 'available' ORDER BY id LIMIT ?)
    RETURNING id, payload
"""


def connect(path, synchronous):
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise RuntimeError(f"{path}: journal_mode is {mode}, not wal")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def is_busy(error):
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_BUSY if code is not None else "locked" in str(error)


class Loop:
    """One claim→finish loop on a connection of its own."""

    def __init__(self, path, batch):
        self.conn = connect(path, "NORMAL")
        self.conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
        self.batch = batch

    def begin(self):
        """BEGIN IMMEDIATE, retrying while another connection holds the write lock."""
        tries, deadline = 0, time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not is_busy(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0001 if tries < 10 else random.uniform(0.0002, 0.001))
            tries += 1

    def transaction(self, sql, args):
        self.begin()
        try:
            cursor = self.conn.execute(sql, args)
            rows = cursor.fetchall()
            self.conn.execute("COMMIT")
            return rows, cursor.rowcount
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def claim(self):
        rows, _ = self.transaction(CLAIM, (self.batch,))
        return [r[0] for r in rows], [r[1] for r in rows]

    def finish(self, ids):
        sql = f"UPDATE jobs SET state = 'done' WHERE state = 'running' AND id IN ({','.join('?' * len(ids))})"
        _, changed = self.transaction(sql, ids)  # the statement cache keeps one per batch size
        if changed != len(ids):
            raise RuntimeError(f"finish marked {changed} of {len(ids)} jobs done")

    def close(self):
        self.conn.close()


class Checkpointer:
    """A PASSIVE checkpoint every CHECKPOINT_S on a thread and connection of its own."""

    def __init__(self, path):
        self.conn = connect(path, "FULL")
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.body, daemon=True)
        self.thread.start()

    def body(self):
        try:
            while not self.stop.wait(CHECKPOINT_S):
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            self.error = error

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.conn.close()
        if self.error:
            raise RuntimeError(f"a WAL checkpoint failed: {self.error}")


def run(path, jobs, batch, loops, limit):
    if os.path.lexists(path):
        raise SystemExit(f"run.py: {path} exists; give a path that does not")
    try:
        setup = connect(path, "FULL")
        setup.executescript("""
            CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, payload BLOB NOT NULL);
            CREATE INDEX jobs_claim ON jobs (id) WHERE state = 'available';
        """)
        for first in range(0, jobs, 1_000):
            setup.execute("BEGIN IMMEDIATE")
            setup.executemany("INSERT INTO jobs (id, state, payload) VALUES (?, 'available', ?)",
                              ((i, PAYLOAD) for i in range(first, min(jobs, first + 1_000))))
            setup.execute("COMMIT")
        setup.close()
        checkpointer = Checkpointer(path)
        try:
            return threaded(loops, lambda: Loop(path, batch), limit)
        finally:
            checkpointer.close()
    finally:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
