"""The HTTP client: enqueue jobs, one or many, read a job and wait for it to finish."""

from __future__ import annotations

import datetime
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from .errors import QueueFullError, SpoolError, WaitTimeout
from .tracing import parse_traceparent

__all__ = ["Client", "JobSpec", "Enqueued", "JobInfo", "FINISHED_STATES", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8080"
#: The states a job leaves only by an explicit retry: ``Client.wait`` returns on these.
FINISHED_STATES = frozenset({"succeeded", "dead", "cancelled"})

Seconds = Union[float, int, datetime.timedelta]
"""A duration: seconds as a number, or a ``timedelta``."""


def _seconds(value: Seconds, name: str) -> float:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be seconds (a number) or a timedelta (got %r)" % (name, value))
    return float(value)


T = TypeVar("T")


def _poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, poll: float, max_poll: float) -> Tuple[T, bool]:
    """Calls ``fetch`` until ``done`` says its answer is final: first after ``poll`` seconds,
    then 1.5 times as long each time, up to ``max_poll``. Returns the last answer and whether it
    was final (False at ``timeout``)."""
    deadline = time.monotonic() + timeout
    interval = max(0.001, poll)
    while True:
        value = fetch()
        if done(value):
            return value, True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return value, False
        time.sleep(min(interval, remaining))
        interval = min(max_poll, interval * 1.5)


def _rfc3339(value: Union[datetime.datetime, str], name: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime.datetime):
        raise TypeError("%s must be an aware datetime or an RFC 3339 string (got %r)" % (name, value))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("%s must be an aware datetime (a naive one has no zone): %r" % (name, value))
    utc = value.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (utc.microsecond // 1000)


@dataclass
class JobSpec:
    """One job to enqueue: ``kind`` and ``payload``, and the options of ``Client.enqueue``.

    An option left None is the server's default (the kind's, else the API's).
    """

    kind: str
    payload: Any = None
    queue: Optional[str] = None
    priority: Optional[int] = None
    run_at: Optional[Union[datetime.datetime, str]] = None
    delay: Optional[Seconds] = None
    unique_key: Optional[str] = None
    max_attempts: Optional[int] = None
    timeout: Optional[Seconds] = None
    metadata: Optional[Mapping[str, str]] = None
    #: Ids of jobs that must succeed before this one runs (it is ``pending`` until then).
    depends_on: Optional[Sequence[str]] = None
    #: ``"cancel"`` (the default) or ``"run"``: what it does when a dependency ends dead or cancelled.
    on_dependency_failure: Optional[str] = None
    #: A running batch to join (from a job of that batch).
    batch: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """The job as the API's enqueue body: only the fields given.

        Raises ``ValueError`` or ``TypeError`` naming the field for a value the API would refuse
        for its type (the server checks the ranges).
        """
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("kind must be a non-empty string (got %r)" % (self.kind,))
        if self.run_at is not None and self.delay is not None:
            raise ValueError("give run_at or delay, not both")
        body: Dict[str, Any] = {"kind": self.kind}
        given: Tuple[Tuple[str, Any], ...] = (
            ("payload", self.payload),
            ("queue", self.queue),
            ("priority", self.priority),
            ("run_at", None if self.run_at is None else _rfc3339(self.run_at, "run_at")),
            ("delay_s", None if self.delay is None else _seconds(self.delay, "delay")),
            ("unique_key", self.unique_key),
            ("max_attempts", self.max_attempts),
            ("timeout_s", None if self.timeout is None else _seconds(self.timeout, "timeout")),
        )
        body.update((name, value) for name, value in given if value is not None)
        if self.depends_on is not None:
            if isinstance(self.depends_on, str) or not all(isinstance(i, str) for i in self.depends_on):
                raise TypeError("depends_on must be a list of job ids (got %r)" % (self.depends_on,))
            body["depends_on"] = list(self.depends_on)
        if self.on_dependency_failure is not None:
            if self.on_dependency_failure not in ("cancel", "run"):
                raise ValueError("on_dependency_failure must be 'cancel' or 'run' (got %r)" % (self.on_dependency_failure,))
            body["on_dependency_failure"] = self.on_dependency_failure
        if self.batch is not None:
            body["batch"] = self.batch
        if self.metadata is not None:
            for key, value in self.metadata.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TypeError("metadata maps strings to strings (got %r: %r)" % (key, value))
            body["metadata"] = dict(self.metadata)
        return body


@dataclass(frozen=True)
class Enqueued:
    """The answer to an enqueue: the job's ``id`` and ``state`` (``available`` or ``scheduled``).

    ``existing`` (batches only) is True when a live job already held the unique key: ``id`` is
    that job's and nothing new was stored.
    """

    id: str
    state: str
    existing: bool = False


@dataclass(frozen=True)
class BatchInfo:
    """A batch as ``GET /v1/batches/{id}`` answers it: ``state`` (``running``, ``succeeded``,
    ``completed``, ``cancelled``), ``total``, ``counts`` by job state, and for each callback it
    has (``on_success``, ``on_complete``, ``on_dead``) its job's id once fired, else None.
    """

    id: str
    state: str
    total: int
    counts: Dict[str, int]
    callbacks: Dict[str, Optional[str]]
    created_at: Optional[str]
    finished_at: Optional[str]
    cancelled_at: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "BatchInfo":
        return cls(
            id=str(value["id"]), state=str(value["state"]), total=int(value["total"]),
            counts={str(k): int(v) for k, v in dict(value.get("counts") or {}).items()},
            callbacks={str(k): (None if v is None else str(v)) for k, v in dict(value.get("callbacks") or {}).items()},
            created_at=value.get("created_at"), finished_at=value.get("finished_at"), cancelled_at=value.get("cancelled_at"),
            raw=dict(value),
        )

    @property
    def finished(self) -> bool:
        """True once every job of the batch has reached a final state (at its first finish)."""
        return self.state != "running"


@dataclass(frozen=True)
class JobInfo:
    """A job as ``GET /v1/jobs/{id}`` answers it (times are RFC 3339 strings in UTC).

    ``raw`` is the whole answer, with any member this version does not name.
    """

    id: str
    kind: str
    queue: str
    state: str
    priority: int
    attempt: int
    max_attempts: int
    payload: Any
    result: Any
    errors: List[Dict[str, Any]]
    metadata: Dict[str, str]
    run_at: Optional[str]
    created_at: Optional[str]
    attempted_at: Optional[str]
    finished_at: Optional[str]
    unique_key: Optional[str]
    timeout_s: Optional[float]
    progress: Optional[Dict[str, Any]]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "JobInfo":
        metadata = value.get("metadata")
        return cls(
            id=str(value.get("id", "")),
            kind=str(value.get("kind", "")),
            queue=str(value.get("queue", "")),
            state=str(value.get("state", "")),
            priority=int(value.get("priority") or 0),
            attempt=int(value.get("attempt") or 0),
            max_attempts=int(value.get("max_attempts") or 0),
            payload=value.get("payload"),
            result=value.get("result"),
            errors=list(value.get("errors") or []),
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            run_at=value.get("run_at"),
            created_at=value.get("created_at"),
            attempted_at=value.get("attempted_at"),
            finished_at=value.get("finished_at"),
            unique_key=value.get("unique_key"),
            timeout_s=value.get("timeout_s"),
            progress=value.get("progress"),
            raw=dict(value),
        )

    @property
    def finished(self) -> bool:
        """Whether the job is ``succeeded``, ``dead`` or ``cancelled``."""
        return self.state in FINISHED_STATES

    @property
    def last_error(self) -> Optional[str]:
        """The message of the latest failed attempt, or None."""
        if not self.errors:
            return None
        message = self.errors[-1].get("message")
        return message if isinstance(message, str) else None


class Client:
    """A client of ``spool serve``'s HTTP API (standard library only, thread-safe).

    ``url`` defaults to ``$SPOOL_URL``, else ``http://127.0.0.1:8080``; ``token`` to
    ``$SPOOL_ADMIN_TOKEN`` (sent as ``Authorization: Bearer``; none with no token configured).
    ``timeout`` bounds each request, in seconds.

    Every method raises ``SpoolError`` (``QueueFullError`` for a full queue) when the server
    refuses, and ``OSError`` when it cannot be reached.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("SPOOL_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("SPOOL_ADMIN_TOKEN") or None
        self.timeout = timeout

    def __repr__(self) -> str:
        return "Client(%r)" % (self.url,)

    # MARK: Requests

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Sends one request to ``path`` (under the server's URL) and returns its JSON answer
        (None for an empty one). ``body``, when not None, is sent as JSON."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout if timeout is None else timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise self._problem(method, path, error) from None
        return json.loads(text.decode("utf-8")) if text else None

    @staticmethod
    def _problem(method: str, path: str, error: urllib.error.HTTPError) -> SpoolError:
        try:
            problem = json.loads(error.read().decode("utf-8"))
        except (ValueError, OSError):
            problem = None
        if not isinstance(problem, dict):
            problem = {"title": str(error.reason or "")}
        retry_after: Optional[float] = None
        header = error.headers.get("Retry-After") if error.headers is not None else None
        if header is not None:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        kind = QueueFullError if error.code == 503 and str(problem.get("type", "")).endswith(":queue-full") else SpoolError
        return kind(method, path, error.code, problem, retry_after)

    @staticmethod
    def _trace_headers(traceparent: Optional[str], tracestate: Optional[str]) -> Dict[str, str]:
        """The W3C Trace Context headers; ``ValueError`` for a ``traceparent`` the server would
        refuse, or a ``tracestate`` without one."""
        headers: Dict[str, str] = {}
        if traceparent is not None:
            if parse_traceparent(traceparent) is None:
                raise ValueError("traceparent is not a W3C traceparent: %r" % (traceparent,))
            headers["traceparent"] = traceparent
        if tracestate is not None:
            if traceparent is None:
                raise ValueError("tracestate needs a traceparent beside it")
            headers["tracestate"] = tracestate
        return headers

    # MARK: Enqueue

    def enqueue(
        self,
        kind: str,
        payload: Any = None,
        *,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        run_at: Optional[Union[datetime.datetime, str]] = None,
        delay: Optional[Seconds] = None,
        unique_key: Optional[str] = None,
        max_attempts: Optional[int] = None,
        timeout: Optional[Seconds] = None,
        metadata: Optional[Mapping[str, str]] = None,
        depends_on: Optional[Sequence[str]] = None,
        on_dependency_failure: Optional[str] = None,
        batch: Optional[str] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> Enqueued:
        """Enqueues one job (``POST /v1/jobs``) and returns its id and state.

        ``run_at`` (an aware datetime or an RFC 3339 string) or ``delay`` (seconds or a
        timedelta) schedule it; ``timeout`` bounds each run. ``traceparent`` (and
        ``tracestate``) are sent as the W3C Trace Context headers, so the job continues the
        caller's trace; ``metadata`` (string to string) is stored with the job. ``depends_on``
        holds it (``pending``) until those jobs have succeeded (see ``JobSpec``); ``batch`` adds
        it to a running batch. Options left None are the server's defaults and are not sent.

        Raises ``SpoolError`` 409 (``unique-key-conflict``, the live job in ``problem["id"]``)
        when a live job holds ``unique_key``, ``QueueFullError`` when the queue is full.
        """
        spec = JobSpec(
            kind, payload, queue=queue, priority=priority, run_at=run_at, delay=delay, unique_key=unique_key,
            max_attempts=max_attempts, timeout=timeout, metadata=metadata, depends_on=depends_on,
            on_dependency_failure=on_dependency_failure, batch=batch,
        )
        answer = self.request("POST", "/v1/jobs", spec.to_json(), self._trace_headers(traceparent, tracestate))
        return Enqueued(id=str(answer["id"]), state=str(answer["state"]))

    def enqueue_many(
        self,
        jobs: Iterable[Union[JobSpec, Mapping[str, Any]]],
        *,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> List[Enqueued]:
        """Enqueues 1 to 1,000 jobs in one request (``POST /v1/jobs/batch``), all or none
        checked first; returns one ``Enqueued`` per job, in order.

        A job is a ``JobSpec`` or a mapping of its fields (``{"kind": ..., "payload": ...}``).
        A job whose unique key a live job holds is not stored again: its ``existing`` is True.
        Raises ``SpoolError`` 400 naming the bad job (``jobs[2].priority``), and
        ``QueueFullError`` (with ``stored``: the jobs stored before the full queue).
        """
        specs = [job if isinstance(job, JobSpec) else JobSpec(**dict(job)) for job in jobs]
        if not specs:
            raise ValueError("enqueue_many needs at least one job")
        body = {"jobs": [spec.to_json() for spec in specs]}
        answer = self.request("POST", "/v1/jobs/batch", body, self._trace_headers(traceparent, tracestate))
        return [
            Enqueued(id=str(entry["id"]), state=str(entry["state"]), existing=bool(entry.get("existing", False)))
            for entry in answer["jobs"]
        ]

    # MARK: Jobs

    def get(self, job_id: str) -> JobInfo:
        """The job ``job_id`` (``GET /v1/jobs/{id}``); ``SpoolError`` 404 when there is none."""
        return JobInfo.from_json(self.request("GET", "/v1/jobs/" + urllib.parse.quote(job_id, safe="")))

    def wait(self, job_id: str, timeout: float = 60.0, poll: float = 0.05, max_poll: float = 1.0) -> JobInfo:
        """Waits until the job is ``succeeded``, ``dead`` or ``cancelled`` and returns it.

        The API has no waiting endpoint, so this polls ``GET /v1/jobs/{id}``: first after
        ``poll`` seconds, then 1.5 times as long each time, up to ``max_poll`` seconds.
        A job that fails and is retried is not finished yet. Raises ``WaitTimeout`` (with the
        job's last state) after ``timeout`` seconds, and ``SpoolError`` 404 if the job is
        deleted meanwhile.
        """
        job, finished = _poll(lambda: self.get(job_id), lambda job: job.finished, timeout, poll, max_poll)
        if not finished:
            raise WaitTimeout(job_id, timeout, job)
        return job

    def retry(self, job_id: str) -> JobInfo:
        """Makes a ``dead`` or ``cancelled`` job ``available`` again, with a fresh budget of
        attempts; ``SpoolError`` 409 in any other state."""
        return JobInfo.from_json(self.request("POST", "/v1/jobs/%s/retry" % urllib.parse.quote(job_id, safe="")))

    def cancel(self, job_id: str) -> JobInfo:
        """Cancels a job that has not finished (a running one's worker learns it at its next
        heartbeat); ``SpoolError`` 409 once it has finished."""
        return JobInfo.from_json(self.request("POST", "/v1/jobs/%s/cancel" % urllib.parse.quote(job_id, safe="")))

    # MARK: Batches

    def create_batch(
        self,
        jobs: Iterable[Union[JobSpec, Mapping[str, Any]]],
        *,
        on_success: Optional[Union[JobSpec, Mapping[str, Any]]] = None,
        on_complete: Optional[Union[JobSpec, Mapping[str, Any]]] = None,
        on_dead: Optional[Union[JobSpec, Mapping[str, Any]]] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
    ) -> Tuple[str, List[Enqueued]]:
        """Enqueues jobs as one batch with callbacks (``POST /v1/batches``), all or none;
        returns the batch's id and one ``Enqueued`` per job, in order.

        Each callback is a job the server enqueues once: ``on_success`` when every job
        succeeded, ``on_complete`` when every job reached a final state, ``on_dead`` at the first
        dead job. Raises ``SpoolError`` 422 when the server's store does not keep batches (or a
        job names an unknown dependency), ``QueueFullError`` when a bounded queue has no room.
        """
        def spec(job: Union[JobSpec, Mapping[str, Any]]) -> Dict[str, Any]:
            return (job if isinstance(job, JobSpec) else JobSpec(**dict(job))).to_json()

        body: Dict[str, Any] = {"jobs": [spec(job) for job in jobs]}
        if not body["jobs"]:
            raise ValueError("create_batch needs at least one job")
        for name, callback in (("on_success", on_success), ("on_complete", on_complete), ("on_dead", on_dead)):
            if callback is not None:
                body[name] = spec(callback)
        answer = self.request("POST", "/v1/batches", body, self._trace_headers(traceparent, tracestate))
        entries = [
            Enqueued(id=str(entry["id"]), state=str(entry["state"]), existing=bool(entry.get("existing", False)))
            for entry in answer["jobs"]
        ]
        return str(answer["id"]), entries

    def batch(self, batch_id: str) -> BatchInfo:
        """The batch ``batch_id`` with its counts (``GET /v1/batches/{id}``); 404 when there is none."""
        return BatchInfo.from_json(self.request("GET", "/v1/batches/" + urllib.parse.quote(batch_id, safe="")))

    def cancel_batch(self, batch_id: str) -> List[str]:
        """Cancels every job of the batch that has not finished; returns their ids."""
        answer = self.request("POST", "/v1/batches/%s/cancel" % urllib.parse.quote(batch_id, safe=""))
        return [str(job_id) for job_id in answer["cancelled"]]

    def wait_batch(self, batch_id: str, timeout: float = 60.0, poll: float = 0.05, max_poll: float = 1.0) -> BatchInfo:
        """Waits until every job of the batch has reached a final state (polling as ``wait``
        does) and returns the batch; ``WaitTimeout`` after ``timeout`` seconds."""
        info, finished = _poll(lambda: self.batch(batch_id), lambda info: info.finished, timeout, poll, max_poll)
        if not finished:
            raise WaitTimeout(batch_id, timeout, info)
        return info
