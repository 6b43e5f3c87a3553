"""spool_client: enqueue Spool jobs and run them in Python, standard library only.

    from spool_client import Client
    client = Client("http://127.0.0.1:8080")
    job = client.enqueue("mail.send", {"to": "a@example.com"}, queue="python")
    print(client.wait(job.id, timeout=30).state)

``Worker`` (in ``spool_client.worker``) runs jobs through the worker protocol; see the README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import DEFAULT_URL, FINISHED_STATES, BatchInfo, Client, Enqueued, JobInfo, JobSpec
from .errors import PermanentError, QueueFullError, RetryError, SpoolError, WaitTimeout
from .tracing import TraceParent, child_traceparent, new_traceparent, parse_traceparent

if TYPE_CHECKING:
    from .worker import Handler, Handlers, Job, Worker

__version__ = "0.1.0"

__all__ = [
    "BatchInfo",
    "Client",
    "DEFAULT_URL",
    "Enqueued",
    "FINISHED_STATES",
    "Handler",
    "Handlers",
    "Job",
    "JobInfo",
    "JobSpec",
    "PermanentError",
    "QueueFullError",
    "RetryError",
    "SpoolError",
    "TraceParent",
    "WaitTimeout",
    "Worker",
    "child_traceparent",
    "new_traceparent",
    "parse_traceparent",
]

_WORKER_NAMES = ("Handler", "Handlers", "Job", "Worker")


def __getattr__(name: str) -> Any:
    # The worker module loads on first use, so `python -m spool_client.worker` runs it once,
    # as __main__, without a second copy already imported by the package.
    if name in _WORKER_NAMES:
        from . import worker

        return getattr(worker, name)
    raise AttributeError("module 'spool_client' has no attribute %r" % (name,))
