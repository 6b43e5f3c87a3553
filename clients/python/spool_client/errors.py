"""The exceptions of spool_client: what the server refused, and what a handler may raise."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

__all__ = ["SpoolError", "QueueFullError", "WaitTimeout", "PermanentError", "RetryError"]


class SpoolError(Exception):
    """The server answered with an error (an RFC 9457 ``application/problem+json`` body).

    ``status`` is the HTTP status; ``title``, ``detail`` and ``type`` come from the problem
    (``type`` is ``urn:spool:problem:SLUG``, ``slug`` its last part: ``invalid-field``,
    ``job-not-found``, ``queue-full``, ...); ``problem`` is the whole problem object, with its
    extra members (``field``, ``id``, ``stored``, ...). ``retry_after`` is the ``Retry-After``
    header in seconds, or None. Connection failures are not SpoolErrors: they stay ``OSError``s
    (``urllib.error.URLError``, ``ConnectionError``, ``TimeoutError``).
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        problem: Optional[Mapping[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.problem: Dict[str, Any] = dict(problem or {})
        self.retry_after = retry_after
        title = self.problem.get("title")
        detail = self.problem.get("detail")
        kind = self.problem.get("type")
        self.title: str = title if isinstance(title, str) else ""
        self.detail: str = detail if isinstance(detail, str) else ""
        self.type: str = kind if isinstance(kind, str) else ""
        message = "%s %s: HTTP %d" % (method, path, status)
        if self.title:
            message += " " + self.title
        if self.detail:
            message += ": " + self.detail
        super().__init__(message)

    @property
    def slug(self) -> str:
        """The problem type's last part (``queue-full`` for ``urn:spool:problem:queue-full``)."""
        return self.type.rsplit(":", 1)[-1] if self.type else ""


class QueueFullError(SpoolError):
    """A bounded queue is full (503 ``queue-full``): try again after ``retry_after`` seconds.

    For a batch, ``stored`` lists ``{"index", "id", "state"}`` of the jobs stored before the
    full queue, so a caller resends only the others.
    """

    @property
    def stored(self) -> List[Dict[str, Any]]:
        value = self.problem.get("stored")
        return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


class WaitTimeout(TimeoutError):
    """``Client.wait`` reached its deadline before the job finished; ``job`` is its last state."""

    def __init__(self, job_id: str, timeout: float, job: Any) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.job = job
        state = getattr(job, "state", "unknown")
        super().__init__("job %s did not finish within %g s (last state: %s)" % (job_id, timeout, state))


class PermanentError(Exception):
    """Raise from a handler for a failure that retrying cannot fix: the job is dead at once."""


class RetryError(Exception):
    """Raise from a handler to fail this attempt and retry after ``retry_in_s`` seconds.

    With ``retry_in_s`` None the server's exponential backoff decides. Either way the job is
    dead once it is out of attempts.
    """

    def __init__(self, message: str = "retry requested", retry_in_s: Optional[float] = None) -> None:
        if retry_in_s is not None and retry_in_s < 0:
            raise ValueError("retry_in_s must be 0 or more (got %r)" % (retry_in_s,))
        self.retry_in_s = retry_in_s
        super().__init__(message)
