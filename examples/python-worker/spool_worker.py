#!/usr/bin/env python3
"""A Spool worker in Python, standard library only, built on the spool_client package.

It runs the package's worker loop (clients/python, `pip install ./clients/python`): claims jobs
of some queues with long-polling, runs each with the handler registered for its kind, keeps the
leases alive with heartbeats while handlers run, reports each outcome, and stops gracefully on
SIGTERM or SIGINT. The server applies the same rules as to Swift workers: a failure retries with
backoff while attempts remain, a PermanentError is dead at once, and a job whose worker dies is
run again once its lease expires (at least once).

    python3 spool_worker.py --url http://127.0.0.1:8080 --queues python
    SPOOL_ADMIN_TOKEN=... python3 spool_worker.py --queues python,mail --concurrency 4

Write your own handlers with @handlers.handler("kind") (see the two examples below); each takes
the job (`job.payload`, `job.attempt`, `job.traceparent`, ...) and returns its result.
"""

import os
import sys
from typing import Any, Dict

# In a checkout, the package next door (clients/python); else the installed one.
_checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python")
if os.path.isdir(os.path.join(_checkout, "spool_client")):
    sys.path.insert(0, _checkout)

from spool_client import Handlers, Job, PermanentError
from spool_client.worker import parser, run_from_arguments

handlers = Handlers()


@handlers.handler("py.upper")
def upper(job: Job) -> Dict[str, Any]:
    return {"text": str(job.payload.get("text", "")).upper(), "attempt": job.attempt}


@handlers.handler("py.fail")
def fail(job: Job) -> None:
    if job.payload.get("permanent"):
        raise PermanentError(job.payload.get("message", "failed for good"))
    raise RuntimeError(job.payload.get("message", "failed"))


def main() -> int:
    arguments = parser("A Spool worker in Python (standard library only).", queues="python")
    return run_from_arguments(arguments.parse_args(), handlers)


if __name__ == "__main__":
    sys.exit(main())
