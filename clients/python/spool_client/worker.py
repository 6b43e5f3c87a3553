"""A worker that runs Spool jobs in Python through the worker protocol.

It claims jobs of some queues with long-polling (``POST /v1/worker/claim``), runs each with the
handler registered for its kind on a thread of its own (at most ``concurrency`` at once), keeps
their leases alive with heartbeats while they run (``/v1/worker/heartbeat``), and reports each
outcome (``/v1/worker/finish``). The server applies the same rules as to Swift workers: a
failure retries with backoff while attempts remain, a ``PermanentError`` is dead at once, and a
job whose worker dies runs again once its lease expires (at least once).

SIGTERM or SIGINT stops it gracefully: it claims no more jobs, lets the running handlers finish
for ``grace_s`` seconds, then returns (a second signal ends the grace at once). Handlers still
running then are left: their leases expire and the server runs them again.

    python -m spool_client.worker --handlers myapp.jobs --queues mail,python --concurrency 4
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from .client import Client
from .errors import PermanentError, RetryError, SpoolError
from .tracing import child_traceparent, new_traceparent, parse_traceparent

__all__ = ["Job", "Handler", "Handlers", "Worker", "main"]

logger = logging.getLogger("spool_client.worker")


class Job:
    """A claimed job, as a handler receives it.

    ``metadata`` holds what the producer attached (the W3C trace context under ``traceparent``
    and ``tracestate``); it is empty when the server's claim answer carries none. ``raw`` is the
    whole claim entry.
    """

    def __init__(self, entry: Mapping[str, Any]) -> None:
        self.raw: Dict[str, Any] = dict(entry)
        self.id: str = str(entry["id"])
        self.kind: str = str(entry["kind"])
        self.queue: str = str(entry.get("queue", ""))
        self.payload: Any = entry.get("payload")
        self.attempt: int = int(entry.get("attempt") or 1)
        self.max_attempts: int = int(entry.get("max_attempts") or 1)
        self.priority: int = int(entry.get("priority") or 0)
        self.created_at: Optional[str] = entry.get("created_at")
        self.lease_expires_at: Optional[str] = entry.get("lease_expires_at")
        self.timeout_s: Optional[float] = entry.get("timeout_s")
        metadata = entry.get("metadata")
        self.metadata: Dict[str, str] = (
            {str(key): str(value) for key, value in metadata.items()} if isinstance(metadata, dict) else {}
        )
        self._lost = threading.Event()

    def __repr__(self) -> str:
        return "Job(id=%r, kind=%r, queue=%r, attempt=%d)" % (self.id, self.kind, self.queue, self.attempt)

    @property
    def traceparent(self) -> Optional[str]:
        """The producer's W3C ``traceparent``, when the job carries a valid one."""
        value = self.metadata.get("traceparent")
        return value if parse_traceparent(value) is not None else None

    @property
    def tracestate(self) -> Optional[str]:
        """The producer's W3C ``tracestate``, when the job carries a ``traceparent`` with it."""
        return self.metadata.get("tracestate") if self.traceparent is not None else None

    def child_traceparent(self) -> str:
        """A ``traceparent`` for work this job starts (a job it enqueues, a request it sends):
        a child of the job's own, or a new trace when the job carries none."""
        parent = self.traceparent
        return child_traceparent(parent) if parent is not None else new_traceparent()

    @property
    def lost(self) -> bool:
        """Whether the worker lost this job's lease (rescued, cancelled or deleted): its outcome
        will not be stored, so a long handler may stop early."""
        return self._lost.is_set()


Handler = Callable[[Job], Any]
"""A handler: takes the job, returns its result (any JSON value, or None)."""


class Handlers(Dict[str, Handler]):
    """Handlers by kind, filled with a decorator:

        handlers = Handlers()

        @handlers.handler("mail.send")
        def send(job): ...
    """

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Registers the decorated function as the handler of ``kind``."""

        def register(function: Handler) -> Handler:
            self[kind] = function
            return function

        return register


class Worker:
    """Claims and runs jobs of ``queues`` with the registered handlers.

    ``client`` (or ``url`` and ``token``, as for ``Client``) names the server. ``concurrency``
    handlers run at once; ``lease_s`` is each claim's lease, extended every third of it while a
    handler runs; ``wait_s`` is the claim's long-poll; ``grace_s`` how long a stop lets running
    handlers finish. ``name`` identifies the worker to the server (``python:HOST:PID``).
    """

    def __init__(
        self,
        handlers: Optional[Mapping[str, Handler]] = None,
        *,
        queues: Sequence[str] = ("default",),
        client: Optional[Client] = None,
        url: Optional[str] = None,
        token: Optional[str] = None,
        concurrency: int = 1,
        lease_s: float = 30.0,
        wait_s: float = 5.0,
        grace_s: float = 25.0,
        name: Optional[str] = None,
    ) -> None:
        if isinstance(queues, str):
            queues = [queue for queue in queues.split(",") if queue]
        if not queues:
            raise ValueError("a worker needs at least one queue")
        if concurrency < 1:
            raise ValueError("concurrency must be 1 or more (got %r)" % (concurrency,))
        if not 0 < lease_s <= 86_400:
            raise ValueError("lease_s must be more than 0 and at most a day, 86400 (got %r)" % (lease_s,))
        if not 0 <= wait_s <= 60:
            raise ValueError("wait_s must be 0 to 60 (got %r)" % (wait_s,))
        if grace_s < 0:
            raise ValueError("grace_s must be 0 or more (got %r)" % (grace_s,))
        self.client = client if client is not None else Client(url, token)
        self.handlers: Dict[str, Handler] = dict(handlers or {})
        self.queues: List[str] = list(queues)
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.grace_s = grace_s
        self.name = name or "python:%s:%d" % (socket.gethostname(), os.getpid())
        self._running: Dict[str, Job] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self.stats: Dict[str, int] = {}

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Registers the decorated function as the handler of ``kind``."""

        def register(function: Handler) -> Handler:
            self.handlers[kind] = function
            return function

        return register

    def stop(self) -> None:
        """Asks ``run`` to stop gracefully (from any thread): no more claims, running handlers
        get ``grace_s`` seconds. A second call ends the grace at once."""
        if self._stop.is_set():
            self._abandon.set()
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stop.is_set()

    def running(self) -> List[Job]:
        """The jobs whose handlers are running now."""
        with self._changed:
            return list(self._running.values())

    # MARK: The loop

    def run(self, max_jobs: Optional[int] = None, idle_exit_s: Optional[float] = None, handle_signals: bool = True) -> int:
        """Claims and runs jobs until stopped (``stop()``, SIGTERM or SIGINT), until ``max_jobs``
        have been claimed, or until no job came for ``idle_exit_s`` seconds; then lets the
        running handlers finish within ``grace_s``. Returns how many jobs it claimed.

        A claim the server refuses with a 4xx (a bad token, a bad queue name) raises that
        ``SpoolError`` after the drain; other failures (no connection, 5xx) are retried every
        second.

        With ``handle_signals`` (and on the main thread) SIGTERM and SIGINT call ``stop()``
        while it runs; the previous handlers are restored on return. ``stats`` counts the
        outcomes: ``succeeded``, ``failed`` (retried or dead, the server decides), ``lost``,
        ``abandoned`` (still running when the grace ended).
        """
        self._stop.clear()
        self._abandon.clear()
        self.stats = {"claimed": 0, "succeeded": 0, "failed": 0, "lost": 0, "abandoned": 0}
        previous = self._install_signals() if handle_signals else {}
        beats_stop = threading.Event()
        beats = threading.Thread(target=self._heartbeats, args=(beats_stop,), name="spool-heartbeats", daemon=True)
        beats.start()
        claimed = 0
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                if max_jobs is not None and claimed >= max_jobs:
                    break
                wait = self.wait_s
                if idle_exit_s is not None:
                    left = idle_exit_s - (time.monotonic() - idle_since)
                    if left <= 0:
                        break
                    wait = min(wait, left)
                with self._changed:
                    free = self.concurrency - len(self._running)
                    if free <= 0:
                        # Full: wait for a handler to end (or a stop); the bound only re-checks.
                        self._changed.wait(timeout=1.0)
                        continue
                if max_jobs is not None:
                    free = min(free, max_jobs - claimed)
                try:
                    answer = self.client.request(
                        "POST",
                        "/v1/worker/claim",
                        {"worker": self.name, "queues": self.queues, "limit": free, "lease_s": self.lease_s, "wait_s": wait},
                        timeout=wait + 30,
                    )
                except SpoolError as error:
                    if 400 <= error.status < 500 and error.status not in (408, 429):
                        raise  # a refusal retrying cannot fix: a bad token, a bad queue name
                    logger.warning("claim failed (%s); retrying in 1 s", error)
                    self._stop.wait(1.0)
                    continue
                except (OSError, ValueError) as error:
                    logger.warning("claim failed (%s); retrying in 1 s", error)
                    self._stop.wait(1.0)
                    continue
                jobs = [Job(entry) for entry in answer.get("jobs", [])]
                if jobs:
                    idle_since = time.monotonic()
                # A claim under way when a stop came may still bring jobs: they are ours now
                # and run within the grace (the protocol cannot hand a claimed job back).
                for job in jobs:
                    claimed += 1
                    self._start(job)
        finally:
            if self._stop.is_set():
                logger.info("stopping: no more claims; waiting up to %g s for %d running jobs", self.grace_s, len(self.running()))
            self._drain()
            beats_stop.set()
            for number, handler in previous.items():
                if handler is not None:
                    signal.signal(number, handler)
        self.stats["claimed"] = claimed
        return claimed

    def _install_signals(self) -> Dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(number: int, frame: Optional[FrameType]) -> None:
            logger.info("received %s: stopping gracefully", signal.Signals(number).name)
            self.stop()

        previous: Dict[int, Any] = {}
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, on_signal)
        return previous

    def _drain(self) -> None:
        """Waits for the running handlers until they end, the grace ends, or a second stop."""
        deadline = time.monotonic() + self.grace_s
        with self._changed:
            while self._running and not self._abandon.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                # Bounded so that a signal (handled on this thread) is seen soon.
                self._changed.wait(timeout=min(left, 0.2))
            left_running = list(self._running.values())
        if left_running:
            self.stats["abandoned"] = len(left_running)
            logger.warning(
                "%d jobs still running after the grace period (%s): leaving them; the server runs them again "
                "once their leases expire",
                len(left_running),
                ", ".join(job.id for job in left_running),
            )

    def _start(self, job: Job) -> None:
        with self._changed:
            self._running[job.id] = job
        thread = threading.Thread(target=self._run_job, args=(job,), name="spool-job-" + job.id, daemon=True)
        thread.start()

    def _run_job(self, job: Job) -> None:
        try:
            outcome = self._outcome(job)
            if not self._abandon.is_set():
                self._finish(job, outcome)
        finally:
            with self._changed:
                self._running.pop(job.id, None)
                self._changed.notify_all()

    def _outcome(self, job: Job) -> Dict[str, Any]:
        """Runs ``job``'s handler and returns its outcome for ``/v1/worker/finish``."""
        function = self.handlers.get(job.kind)
        try:
            if function is None:
                raise PermanentError("no handler for kind %r in worker %s" % (job.kind, self.name))
            result = function(job)
            json.dumps(result)  # a result the server cannot store is the handler's failure
            return {"id": job.id, "status": "succeeded", "result": result}
        except PermanentError as error:
            return {"id": job.id, "status": "failed", "error": str(error) or type(error).__name__, "permanent": True}
        except RetryError as error:
            outcome: Dict[str, Any] = {"id": job.id, "status": "failed", "error": str(error)}
            if error.retry_in_s is not None:
                outcome["retry_in_s"] = error.retry_in_s
            return outcome
        except Exception as error:  # any other failure is retried by the server's rules
            logger.info("job %s (%s) failed: %s: %s", job.id, job.kind, type(error).__name__, error)
            return {"id": job.id, "status": "failed", "error": "%s: %s" % (type(error).__name__, error)}

    def _finish(self, job: Job, outcome: Mapping[str, Any]) -> None:
        """Reports ``outcome``, retrying a failed request a few times with backoff."""
        for attempt in range(5):
            try:
                answer = self.client.request("POST", "/v1/worker/finish", {"worker": self.name, "results": [outcome]}, timeout=30)
            except (OSError, SpoolError, ValueError) as error:
                logger.warning("finish of job %s failed (%s); retrying", job.id, error)
                if self._abandon.wait(0.2 * 2**attempt):
                    return
                continue
            with self._changed:
                if job.id in answer.get("lost", []):
                    self.stats["lost"] += 1
                    logger.warning("outcome of job %s not stored: its lease was lost", job.id)
                elif outcome["status"] == "succeeded":
                    self.stats["succeeded"] += 1
                else:
                    self.stats["failed"] += 1
            return
        logger.error("outcome of job %s not reported; it runs again once its lease expires", job.id)

    def _heartbeats(self, stop: threading.Event) -> None:
        """Extends the leases of running jobs every third of the lease, until ``stop``."""
        while not stop.wait(self.lease_s / 3):
            jobs = {job.id: job for job in self.running()}
            ids = list(jobs)
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                try:
                    answer = self.client.request(
                        "POST", "/v1/worker/heartbeat", {"worker": self.name, "ids": chunk, "lease_s": self.lease_s}, timeout=10
                    )
                except (OSError, SpoolError, ValueError) as error:
                    logger.warning("heartbeat failed: %s", error)
                    continue
                for lost in answer.get("lost", []):
                    job = jobs.get(lost)
                    if job is not None and not job.lost:
                        job._lost.set()
                        logger.warning("lease lost for job %s: its outcome will not be stored", lost)


# MARK: Command line


def load_handlers(spec: str) -> Mapping[str, Handler]:
    """The handlers named by ``MODULE[:ATTRIBUTE]`` (default attribute ``handlers``): a mapping
    of kind to handler, such as a ``Handlers``, or a ``Worker`` whose handlers to take."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attribute or "handlers", None)
    if isinstance(value, Worker):
        return value.handlers
    if not isinstance(value, Mapping):
        raise SystemExit("--handlers %s: %s.%s is not a mapping of kind to handler" % (spec, module_name, attribute or "handlers"))
    return value


def parser(
    description: str = "Run Spool jobs in Python (standard library only).",
    queues: str = "default",
    prog: Optional[str] = None,
) -> argparse.ArgumentParser:
    """The worker's command-line flags (``main`` and the example script share them); ``queues``
    is the default of ``--queues``."""
    arguments = argparse.ArgumentParser(description=description, prog=prog)
    arguments.add_argument("--url", default=None, help="the server (default $SPOOL_URL, else http://127.0.0.1:8080)")
    arguments.add_argument("--queues", default=queues, help="comma-separated queue names (default: %s)" % queues)
    arguments.add_argument("--concurrency", type=int, default=1, help="handlers run at once (default 1)")
    arguments.add_argument("--lease", type=float, default=30.0, help="lease in seconds (default 30)")
    arguments.add_argument("--wait", type=float, default=5.0, help="claim long-poll in seconds (default 5)")
    arguments.add_argument("--grace", type=float, default=25.0, help="seconds running jobs get after SIGTERM (default 25)")
    arguments.add_argument("--name", default=None, help="the worker's name (default python:HOST:PID)")
    arguments.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    arguments.add_argument("--idle-exit", type=float, default=None, help="exit after this many seconds without a job")
    arguments.add_argument("--log-level", default="INFO", help="DEBUG, INFO (default), WARNING, ERROR")
    return arguments


def run_from_arguments(arguments: argparse.Namespace, handlers: Mapping[str, Handler]) -> int:
    """Runs a worker configured by ``parser()``'s flags; prints how many jobs ran."""
    logging.basicConfig(
        level=getattr(logging, str(arguments.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    worker = Worker(
        handlers,
        queues=[queue for queue in arguments.queues.split(",") if queue],
        url=arguments.url,
        concurrency=arguments.concurrency,
        lease_s=arguments.lease,
        wait_s=arguments.wait,
        grace_s=arguments.grace,
        name=arguments.name,
    )
    try:
        ran = worker.run(max_jobs=arguments.max_jobs, idle_exit_s=arguments.idle_exit)
    except SpoolError as error:
        logger.error("the server refused the claim: %s", error)
        return 1
    print("ran %d jobs" % ran, flush=True)
    return 0


def main(argv: Optional[Iterable[str]] = None) -> int:
    """``python -m spool_client.worker --handlers MODULE[:ATTRIBUTE] [flags]``."""
    program = os.path.basename(sys.argv[0])
    arguments = parser(prog="python -m spool_client.worker" if program in ("worker.py", "__main__.py") else None)
    arguments.add_argument(
        "--handlers", required=True, metavar="MODULE[:ATTRIBUTE]",
        help="where the handlers are: a mapping of kind to handler (default attribute: handlers)",
    )
    parsed = arguments.parse_args(None if argv is None else list(argv))
    sys.path.insert(0, os.getcwd())
    return run_from_arguments(parsed, load_handlers(parsed.handlers))


if __name__ == "__main__":
    # Run the package's own module, not this __main__ copy, so handlers that import
    # spool_client share its classes.
    from spool_client.worker import main as _main

    sys.exit(_main())
