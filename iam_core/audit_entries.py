"""What an audit entry holds: the event a caller reports, the entry as stored, and the scrubbing
and checks every event passes before it is written (the canonical form is described in
:mod:`iam_core.audit`).

Secrets are never written: every string of an event passes through :func:`scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from iam_core.audit_keys import AuditError

__all__ = ["REDACTED", "AuditEntry", "AuditEvent", "Outcome", "fields_of", "scrub"]

Outcome = Literal["allowed", "denied"]

REDACTED = "[redacted-token]"
# A JWS/JWT: a base64url JSON header (always "eyJ", i.e. '{"') and one or more dot-separated
# base64url segments; this also catches two-segment fragments and five-segment JWEs.
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")  # W3C Trace Context §3.2.2.3
_OUTCOMES = frozenset({"allowed", "denied"})
_ACTOR_KINDS = frozenset({"agent", "human", "app", "anonymous"})
_TEXT_FIELDS: tuple[str, ...] = ("event", "reason", "sub", "client_id", "token_type", "jti")
_TEXT_FIELDS += ("scope", "service", "method", "path", "object_id")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What a caller reports; ``actor_kind`` is derived from ``act``/``token_type`` when None."""

    event: str
    outcome: Outcome
    reason: str
    sub: str | None = None
    act: tuple[str, ...] = ()
    client_id: str | None = None
    token_type: str | None = None
    jti: str | None = None
    scope: str | None = None
    service: str = "iam"
    method: str | None = None
    path: str | None = None
    object_id: str | None = None
    trace_id: str | None = None
    actor_kind: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry, exactly as hashed, plus its ``hash``."""

    seq: int
    time: float
    event: str
    outcome: str
    reason: str
    sub: str | None
    act: tuple[str, ...]
    client_id: str | None
    token_type: str | None
    jti: str | None
    scope: str | None
    service: str
    method: str | None
    path: str | None
    object_id: str | None
    trace_id: str | None
    actor_kind: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (``act`` as a list)."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["act"] = list(self.act)
        data["details"] = dict(self.details)
        return data


def scrub(value: Any) -> Any:
    """``value`` with every token-looking substring of every string replaced by a marker.

    Mappings become dicts and lists or tuples lists, recursively. Lone surrogates, which have no
    UTF-8 form and would make the entry unwritable, become U+FFFD, and so does NUL, which
    PostgreSQL's text columns cannot hold: the entry hashes alike on either store.
    """
    if isinstance(value, str):
        return _scrub_str(value)
    if isinstance(value, Mapping):
        return {(_scrub_str(k) if isinstance(k, str) else k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _scrub_str(text: str) -> str:
    if "eyJ" in text:
        text = _TOKEN.sub(REDACTED, text)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def _scrub_opt(text: str | None) -> str | None:
    return None if text is None else _scrub_str(text)


def fields_of(event: AuditEvent) -> dict[str, Any]:
    """The scrubbed, checked members of an entry that do not depend on its place in the log."""
    if event.outcome not in _OUTCOMES:
        raise AuditError(f"audit outcome must be 'allowed' or 'denied', not {event.outcome!r}")
    kind = event.actor_kind
    if kind is None:
        agent = bool(event.act) or event.token_type == "agent"
        kind = "agent" if agent else {"user": "human", "app": "app"}.get(event.token_type or "")
    kind = kind or "anonymous"
    if kind not in _ACTOR_KINDS:
        raise AuditError(f"audit actor_kind must be one of {sorted(_ACTOR_KINDS)}, not {kind!r}")
    trace_id = event.trace_id
    # W3C Trace Context §3.2.2.3: an invalid trace-id is ignored, never propagated.
    if trace_id is not None and (not _TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32):
        trace_id = None
    fields: dict[str, Any] = {name: _scrub_opt(getattr(event, name)) for name in _TEXT_FIELDS}
    act = [_scrub_str(actor) for actor in event.act]
    details = scrub(event.details)
    fields.update(act=act, outcome=event.outcome, trace_id=trace_id, actor_kind=kind)
    fields["details"] = details
    return fields
