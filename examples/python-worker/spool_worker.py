#!/usr/bin/env python3
"""A Spool worker in Python, standard library only.

It speaks Spool's worker protocol (POST /v1/worker/claim, /heartbeat, /finish): claims jobs of
some queues with long-polling, runs each with the handler registered for its kind, keeps the
leases alive with heartbeats while handlers run, and reports each outcome. The server applies
the same rules as to Swift workers: a failure retries with backoff while attempts remain, a
PermanentError is dead at once, and a job whose worker dies is run again once its lease
expires (at least once).

    python3 spool_worker.py --url http://127.0.0.1:8080 --queues python
    SPOOL_ADMIN_TOKEN=... python3 spool_worker.py --queues python,mail --concurrency 4

Write your own handlers with @worker.handler("kind") (see the two examples at the bottom).
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


class PermanentError(Exception):
    """Raise from a handler for a failure that retrying cannot fix: the job is dead at once."""


class SpoolError(Exception):
    """The server refused a request (the message is its problem+json detail)."""


class Worker:
    def __init__(self, url, queues, token=None, concurrency=1, lease_s=30.0, wait_s=10.0, name=None):
        self.url = url.rstrip("/")
        self.queues = list(queues)
        self.token = token
        self.concurrency = max(1, concurrency)
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.name = name or "python:%s:%d" % (socket.gethostname(), os.getpid())
        self.handlers = {}
        self._running = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def handler(self, kind):
        """Registers the decorated function(payload, job) as the handler of `kind`."""
        def register(function):
            self.handlers[kind] = function
            return function
        return register

    def _post(self, path, body, timeout):
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read().decode("utf-8")).get("detail", "")
            except ValueError:
                detail = ""
            raise SpoolError("%s %s: HTTP %d %s" % ("POST", path, error.code, detail)) from None

    def _heartbeats(self):
        """Extends the leases of running jobs every third of the lease."""
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                answer = self._post("/v1/worker/heartbeat", {"worker": self.name, "ids": ids, "lease_s": self.lease_s}, 10)
                for lost in answer.get("lost", []):
                    print("lease lost for job %s: its outcome will not be stored" % lost, file=sys.stderr)
            except (OSError, SpoolError) as error:
                print("heartbeat failed: %s" % error, file=sys.stderr)

    def _run(self, job):
        """Runs one job and returns its outcome for /v1/worker/finish."""
        function = self.handlers.get(job["kind"])
        try:
            if function is None:
                raise PermanentError("no handler for kind %r in worker %s" % (job["kind"], self.name))
            result = function(job["payload"], job)
            return {"id": job["id"], "status": "succeeded", "result": result}
        except PermanentError as error:
            return {"id": job["id"], "status": "failed", "error": str(error), "permanent": True}
        except Exception as error:  # any other failure is retried by the server's rules
            return {"id": job["id"], "status": "failed", "error": "%s: %s" % (type(error).__name__, error)}
        finally:
            with self._lock:
                self._running.discard(job["id"])

    def _finish(self, outcome):
        for attempt in range(5):
            try:
                answer = self._post("/v1/worker/finish", {"worker": self.name, "results": [outcome]}, 10)
                for lost in answer.get("lost", []):
                    print("outcome of job %s not stored: the lease was lost" % lost, file=sys.stderr)
                return
            except (OSError, SpoolError) as error:
                print("finish failed (%s); retrying" % error, file=sys.stderr)
                time.sleep(0.2 * 2 ** attempt)

    def run(self, max_jobs=None, idle_exit_s=None):
        """Claims and runs jobs until stopped, `max_jobs` have run, or nothing came for
        `idle_exit_s` seconds. Returns how many jobs ran."""
        ran = 0
        idle_since = time.monotonic()
        beats = threading.Thread(target=self._heartbeats, daemon=True)
        beats.start()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                while not self._stop.is_set():
                    if max_jobs is not None and ran >= max_jobs:
                        break
                    if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                        break
                    with self._lock:
                        free = self.concurrency - len(self._running)
                    if max_jobs is not None:
                        free = min(free, max_jobs - ran)
                    if free <= 0:
                        time.sleep(0.01)
                        continue
                    try:
                        answer = self._post("/v1/worker/claim", {
                            "worker": self.name, "queues": self.queues, "limit": free,
                            "lease_s": self.lease_s, "wait_s": self.wait_s,
                        }, self.wait_s + 10)
                    except (OSError, SpoolError) as error:
                        print("claim failed (%s); retrying in 1 s" % error, file=sys.stderr)
                        time.sleep(1)
                        continue
                    jobs = answer.get("jobs", [])
                    if jobs:
                        idle_since = time.monotonic()
                    for job in jobs:
                        with self._lock:
                            self._running.add(job["id"])
                        ran += 1
                        pool.submit(lambda job=job: self._finish(self._run(job)))
            finally:
                self._stop.set()
        return ran


def main():
    parser = argparse.ArgumentParser(description="A Spool worker in Python (standard library only).")
    parser.add_argument("--url", default=os.environ.get("SPOOL_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--queues", default="python", help="comma-separated queue names")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=float, default=30.0, help="lease in seconds")
    parser.add_argument("--wait", type=float, default=10.0, help="long-poll wait in seconds")
    parser.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    parser.add_argument("--idle-exit", type=float, default=None, help="exit after this many seconds without a job")
    arguments = parser.parse_args()

    worker = Worker(
        arguments.url, [q for q in arguments.queues.split(",") if q], token=os.environ.get("SPOOL_ADMIN_TOKEN"),
        concurrency=arguments.concurrency, lease_s=arguments.lease, wait_s=arguments.wait,
    )

    @worker.handler("py.upper")
    def upper(payload, job):
        return {"text": str(payload.get("text", "")).upper(), "attempt": job["attempt"]}

    @worker.handler("py.fail")
    def fail(payload, job):
        if payload.get("permanent"):
            raise PermanentError(payload.get("message", "failed for good"))
        raise RuntimeError(payload.get("message", "failed"))

    ran = worker.run(max_jobs=arguments.max_jobs, idle_exit_s=arguments.idle_exit)
    print("ran %d jobs" % ran)


if __name__ == "__main__":
    main()
