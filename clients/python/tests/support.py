"""What the tests share: a real `spool serve` on loopback (memory store, any free port, no
token), started per test and killed in cleanup even when the test fails."""

from __future__ import annotations

import datetime
import os
import queue
import re
import signal
import subprocess
import threading
import time
import unittest
from pathlib import Path
from typing import IO, Callable, List, Optional, TypeVar

from spool_client import Client, Worker

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def spool_binary() -> Path:
    """`$SPOOL_BINARY`, else `.build/debug/spool` under the repository's root."""
    return Path(os.environ.get("SPOOL_BINARY") or REPO_ROOT / ".build" / "debug" / "spool")


class Lines:
    """The lines a child process writes, read on a thread so a test can wait for one with a
    deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: List[str] = []
        self.ended = False
        self._queue: "queue.Queue[Optional[str]]" = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> "re.Match[str]":
        """The first line from now on matching `pattern`; AssertionError after `timeout` s or
        at the end of the output."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line matching %r within %g s; output so far:\n%s" % (pattern, timeout, self.text()))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.ended = True
                raise AssertionError("output ended without a line matching %r; output:\n%s" % (pattern, self.text()))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self, timeout: float) -> str:
        """Everything until the end of the output (within `timeout` s), as text."""
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self.ended = True
                break
            self.seen.append(line)
        return self.text()

    def text(self) -> str:
        return "".join(self.seen)


class SpoolServer:
    """`spool serve` on 127.0.0.1, any free port, a memory store and no token (or
    `admin_token`); its built-in worker serves `queues` (the tests' own queues are others)."""

    def __init__(self, queues: str = "default", admin_token: Optional[str] = None) -> None:
        binary = spool_binary()
        if not binary.exists():
            message = "no spool binary at %s (swift build, or set SPOOL_BINARY)" % binary
            if os.environ.get("SPOOL_REQUIRE_SERVERS"):
                raise AssertionError(message)
            raise unittest.SkipTest(message)
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("SPOOL_ADMIN_TOKEN", "SPOOL_READ_TOKEN", "SPOOL_CONFIG", "SPOOL_DATABASE_URL")
            and not key.startswith("OTEL_")
        }
        if admin_token is not None:
            environment["SPOOL_ADMIN_TOKEN"] = admin_token
        self.process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", "0", "--database", "memory:", "--queues", queues,
             "--drain-timeout", "1", "--log-level", "error"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.output = Lines(self.process.stdout)
        try:
            port = self.output.wait_for(r"http://127\.0\.0\.1:(\d+)", timeout=60).group(1)
        except BaseException:
            self.stop()
            raise
        self.url = "http://127.0.0.1:%s" % port

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class ServerTestCase(unittest.TestCase):
    """A test with its own server (`self.server`) and a client of it (`self.client`)."""

    server_queues = "default"

    def setUp(self) -> None:
        self.server = SpoolServer(self.server_queues)
        self.addCleanup(self.server.stop)
        self.client = Client(self.server.url, token="", timeout=30)

    def start_worker(self, worker: Worker, **run_arguments: object) -> threading.Thread:
        """Runs `worker` on a thread; cleanup stops it (ending the grace at once) and joins it."""
        thread = threading.Thread(target=worker.run, kwargs=dict(handle_signals=False, **run_arguments), daemon=True)
        thread.start()

        def stop() -> None:
            worker.stop()
            worker.stop()
            thread.join(timeout=15)
            self.assertFalse(thread.is_alive(), "the worker did not stop within 15 s")

        self.addCleanup(stop)
        return thread

    def poll(self, what: str, check: Callable[[], Optional[T]], timeout: float = 20.0) -> T:
        """Asks `check` until it answers something other than None (polling the server with a
        deadline, where no event exists); AssertionError naming `what` after `timeout` s."""
        deadline = time.monotonic() + timeout
        interval = 0.02
        while True:
            value = check()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("%s: not within %g s" % (what, timeout))
            time.sleep(interval)
            interval = min(0.25, interval * 1.5)


def rfc3339(text: str) -> datetime.datetime:
    """A time as the API writes it (`2026-12-07T04:34:58.294Z`)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

