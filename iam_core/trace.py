"""W3C Trace Context: the trace id that ties an audit entry to the request that caused it.

The server reads ``traceparent`` (W3C Trace Context §3.2) from each request, or starts a
new trace, and keeps the trace id in a context variable for the audit log to pick up.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
current_trace_id: ContextVar[str | None] = ContextVar("current_trace_id", default=None)


def parse_traceparent(value: str | None) -> str | None:
    """The trace id of a valid version-00 ``traceparent``, or None (§3.2.2: all-zero is invalid)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return match.group(1)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def make_traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"
