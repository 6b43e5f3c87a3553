"""W3C Trace Context (https://www.w3.org/TR/trace-context/) for jobs: read a ``traceparent``,
start a trace, and make a child of one.

A ``traceparent`` is ``VERSION-TRACEID-PARENTID-FLAGS`` in lowercase hex, e.g.
``00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01``. A child keeps the trace id and the
flags and gets a new parent (span) id, so every job a job enqueues belongs to the same trace.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple, Optional

__all__ = ["TraceParent", "parse_traceparent", "new_traceparent", "child_traceparent"]

_PATTERN = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceParent(NamedTuple):
    """The parts of a ``traceparent`` header."""

    version: str
    trace_id: str
    parent_id: str
    flags: str

    @property
    def sampled(self) -> bool:
        """Whether the caller recorded its span (the flags' lowest bit)."""
        return int(self.flags, 16) & 1 == 1

    def __str__(self) -> str:
        return "%s-%s-%s-%s" % (self.version, self.trace_id, self.parent_id, self.flags)


def parse_traceparent(value: Optional[str]) -> Optional[TraceParent]:
    """The parts of ``value``, or None when it is not a valid ``traceparent``.

    Follows the specification's rules: version ``ff`` is invalid, all-zero trace and parent ids
    are invalid, version ``00`` has exactly four fields, and a later version may carry more
    fields after the four it shares with ``00`` (they are ignored).
    """
    if not isinstance(value, str):
        return None
    match = _PATTERN.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    if version == "00" and rest is not None:
        return None
    return TraceParent(version, trace_id, parent_id, flags)


def _random_hex(length: int) -> str:
    while True:
        value = os.urandom(length // 2).hex()
        if value != "0" * length:
            return value


def new_traceparent(sampled: bool = True) -> str:
    """A ``traceparent`` that starts a new trace (random trace and parent ids, version 00)."""
    return "00-%s-%s-%s" % (_random_hex(32), _random_hex(16), "01" if sampled else "00")


def child_traceparent(parent: str) -> str:
    """A ``traceparent`` for work done on behalf of ``parent``: the same trace id and flags, a
    new random parent id, written as version 00.

    Raises ``ValueError`` when ``parent`` is not a valid ``traceparent``.
    """
    parts = parse_traceparent(parent)
    if parts is None:
        raise ValueError("not a W3C traceparent: %r" % (parent,))
    return "00-%s-%s-%s" % (parts.trace_id, _random_hex(16), parts.flags)
