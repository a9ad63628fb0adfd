"""Approval requests: OpenID CIBA Core 1.0 in poll mode, one transaction each.

An agent asks (:meth:`Approvals.request`, the backchannel authentication endpoint, CIBA §7),
the person approves or denies on ``/account/approvals`` or with ``agent-iam approvals``
(:meth:`Approvals.decide`), and the agent polls the token endpoint with the CIBA grant
(:mod:`iam_core.grants.ciba`, §10.1, §11). Each state change is one audit entry:
``approval.requested``, ``approval.approved``, ``approval.denied``, ``approval.expired``,
``approval.used`` — with the agent, the details and, for a decision, a digest of the
approver's session (never the session itself).

Fatigue and spoofing (:class:`~iam_core.approval_policy.ApprovalLimits`): one pending request
per (user, agent, action); a per-agent rate limit whose refusals are audited; requests
expire; the ``binding_message`` (§7.1) is checked against the details — a message that names
an amount must name the real one — and the pages show the details in words beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from iam_core.approval_policy import ApprovalLimits, describe, money
from iam_core.audit import AuditEvent
from iam_core.clock import Clock
from iam_core.policy import format_scope, parse_scope
from iam_core.quota import Quota
from iam_core.store import AnyStore


class Host(Protocol):
    """What approvals need of the IAM (a Protocol: the IAM builds them, no import cycle)."""

    store: AnyStore
    clock: Clock

    def record(self, event: AuditEvent) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    auth_req_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL,
    client_id TEXT NOT NULL, action TEXT NOT NULL, scope TEXT NOT NULL,
    details TEXT NOT NULL, binding_message TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL, interval INTEGER NOT NULL,
    next_poll REAL NOT NULL, decided_by TEXT, jti TEXT
);
CREATE INDEX IF NOT EXISTS approvals_user ON approvals (user_id, status);
"""

PENDING, APPROVED, DENIED, EXPIRED, USED = "pending", "approved", "denied", "expired", "used"
_AMOUNT = re.compile(r"(\d[\d,]*(?:\.\d{1,2})?)")


@dataclass(frozen=True, slots=True)
class Approval:
    auth_req_id: str
    user_id: str
    agent_id: str
    client_id: str
    action: str
    scopes: frozenset[str]
    details: tuple[dict[str, Any], ...]
    binding_message: str
    status: str
    created_at: float
    expires_at: float
    interval: int
    next_poll: float
    decided_by: str | None
    jti: str | None

    def words(self) -> list[str]:
        return [describe(d) for d in self.details]


class ApprovalError(Exception):
    """A request refused; ``error`` is the CIBA §13 / RFC 6749 §5.2 code."""

    def __init__(
        self, error: str, description: str, status: int = 400, event: str = "approval.refused"
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.event = event  # the audit event the endpoint records for this refusal


def action_of(details: tuple[dict[str, Any], ...]) -> str:
    """The action a request is about: its type and booking (one pending request each)."""
    first = details[0]
    return f"{first.get('type')}:{first.get('booking_id') or first.get('hotel_id') or ''}"


def binding_message_problem(message: str, details: tuple[dict[str, Any], ...]) -> str | None:
    """Why a binding message misleads (CIBA §7.1: it must be a short plain message that both
    sides show); a message naming an amount must name the amount to be approved."""
    if not message:
        return "binding_message is required: the person compares it on both sides"
    if any(not (" " <= c <= "~" or c in "€£") for c in message):
        return "binding_message must be plain printable text"
    amounts = {d.get("amount_cents") for d in details if "amount_cents" in d}
    named = {round(float(m.replace(",", "")) * 100) for m in _AMOUNT.findall(message)}
    named = {n for n in named if n >= 100}  # a booking number's digits are not an amount
    if named and amounts and not named & amounts:
        shown = ", ".join(money(a, details[0].get("currency", "EUR")) for a in amounts)
        return f"binding_message names another amount than the one to approve ({shown})"
    return None


class Approvals:
    """The approval requests of one IAM (CIBA Core 1.0, poll mode)."""

    def __init__(self, iam: Host, limits: ApprovalLimits) -> None:
        self._iam = iam
        self.limits = limits
        iam.store.ensure_schema(SCHEMA)
        spec = limits.per_agent
        self._quota = Quota(spec, iam.clock) if spec is not None and limits.enforce else None

    # -- the agent asks (§7) ----------------------------------------------------------------
    def request(
        self,
        *,
        agent_id: str,
        user_id: str,
        client_id: str,
        scopes: frozenset[str],
        details: tuple[dict[str, Any], ...],
        binding_message: str,
    ) -> Approval:
        now = self._iam.clock.now()
        action = action_of(details)
        self.expire_due()
        if self.limits.enforce:
            if self._quota is not None and (count := self._quota.take(agent_id)) is not None:
                spec = self._quota.spec
                reason = (
                    f"approval rate limit: {agent_id} asked {count} times within "
                    f"{spec.window} s (limit {spec.limit})"
                )
                # Audited by the endpoint, after the request's transaction is rolled back.
                raise ApprovalError("slow_down", reason, 429, event="approval.throttled")
            if self._pending_for(user_id, agent_id, action) is not None:
                reason = f"{user_id} already has a pending request from {agent_id} for {action}"
                raise ApprovalError("invalid_request", reason)
        approval = Approval(
            _request_id(),
            user_id,
            agent_id,
            client_id,
            action,
            scopes,
            details,
            binding_message,
            PENDING,
            now,
            now + self.limits.expires_in,
            self.limits.interval,
            now,
            None,
            None,
        )
        self._iam.store.execute(
            "INSERT INTO approvals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                approval.auth_req_id,
                user_id,
                agent_id,
                client_id,
                action,
                format_scope(scopes),
                json.dumps(list(details)),
                binding_message,
                PENDING,
                now,
                approval.expires_at,
                approval.interval,
                now,
                None,
                None,
            ),
        )
        self._audit(
            "approval.requested",
            "allowed",
            f"{agent_id} asks {user_id}: {'; '.join(approval.words())}",
            user_id,
            agent_id,
            details,
            object_id=approval.auth_req_id,
            extra={"binding_message": binding_message},
        )
        return approval

    # -- the person decides ---------------------------------------------------------------
    def pending_for_user(self, user_id: str) -> list[Approval]:
        self.expire_due()
        rows = self._iam.store.all(
            "SELECT * FROM approvals WHERE user_id = ? AND status = ? ORDER BY created_at",
            (user_id, PENDING),
        )
        return [_approval(r) for r in rows]

    def get(self, auth_req_id: str) -> Approval | None:
        row = self._iam.store.one("SELECT * FROM approvals WHERE auth_req_id = ?", (auth_req_id,))
        return _approval(row) if row else None

    def decide(self, auth_req_id: str, user_id: str, approve: bool, *, session: str) -> Approval:
        """The person's decision; only the named user decides, only while it is pending."""
        self.expire_due()
        approval = self.get(auth_req_id)
        if approval is None or approval.user_id != user_id:
            raise ApprovalError("invalid_request", "no such approval request for this user")
        if approval.status != PENDING:
            raise ApprovalError("invalid_request", f"this request is already {approval.status}")
        status = APPROVED if approve else DENIED
        seen = hashlib.sha256(session.encode()).hexdigest()[:16]
        self._iam.store.execute(
            "UPDATE approvals SET status = ?, decided_by = ? WHERE auth_req_id = ?",
            (status, seen, auth_req_id),
        )
        self._audit(
            f"approval.{status}",
            "allowed" if approve else "denied",
            f"{user_id} {status} {approval.agent_id}: {'; '.join(approval.words())}",
            user_id,
            approval.agent_id,
            approval.details,
            object_id=auth_req_id,
            extra={"approver_session": seen, "binding_message": approval.binding_message},
        )
        return self.get(auth_req_id) or approval

    # -- the token endpoint ----------------------------------------------------------------
    def polled(self, approval: Approval) -> Approval:
        """Note a poll (§11 ``slow_down`` when too soon); returns the current state."""
        now = self._iam.clock.now()
        if approval.status == PENDING and now >= approval.expires_at:
            self.expire_due()
            return self.get(approval.auth_req_id) or approval
        if approval.status == PENDING and now < approval.next_poll and self.limits.enforce:
            interval = approval.interval + self.limits.slow_down_step
            self._iam.store.execute(
                "UPDATE approvals SET interval = ?, next_poll = ? WHERE auth_req_id = ?",
                (interval, now + interval, approval.auth_req_id),
            )
            raise ApprovalError("slow_down", f"poll at most every {interval} s")
        self._iam.store.execute(
            "UPDATE approvals SET next_poll = ? WHERE auth_req_id = ?",
            (now + approval.interval, approval.auth_req_id),
        )
        return approval

    def mark_used(self, approval: Approval, jti: str) -> bool:
        """An approved request yields one token, once; False if it was redeemed before."""
        cur = self._iam.store.execute(
            "UPDATE approvals SET status = ?, jti = ? WHERE auth_req_id = ? AND status = ?",
            (USED, jti, approval.auth_req_id, APPROVED),
        )
        if cur.rowcount == 0:
            return False
        self._audit(
            "approval.used",
            "allowed",
            f"token for the approved action issued to {approval.agent_id}",
            approval.user_id,
            approval.agent_id,
            approval.details,
            object_id=approval.auth_req_id,
            extra={"jti": jti, "approver_session": approval.decided_by},
        )
        return True

    def expire_due(self) -> None:
        """Expire pending requests past ``expires_in`` (CIBA §7.3), one audit entry each."""
        now = self._iam.clock.now()
        rows = self._iam.store.all(
            "SELECT * FROM approvals WHERE status = ? AND expires_at <= ?", (PENDING, now)
        )
        for row in rows:
            approval = _approval(row)
            cur = self._iam.store.execute(
                "UPDATE approvals SET status = ? WHERE auth_req_id = ? AND status = ?",
                (EXPIRED, approval.auth_req_id, PENDING),
            )
            if cur.rowcount:
                self._audit(
                    "approval.expired",
                    "denied",
                    f"{approval.user_id} did not answer in time",
                    approval.user_id,
                    approval.agent_id,
                    approval.details,
                    object_id=approval.auth_req_id,
                )

    def _pending_for(self, user_id: str, agent_id: str, action: str) -> Approval | None:
        row = self._iam.store.one(
            "SELECT * FROM approvals WHERE user_id = ? AND agent_id = ? AND action = ? "
            "AND status = ?",
            (user_id, agent_id, action, PENDING),
        )
        return _approval(row) if row else None

    def _audit(
        self,
        event: str,
        outcome: Literal["allowed", "denied"],
        reason: str,
        user_id: str,
        agent_id: str,
        details: tuple[dict[str, Any], ...],
        *,
        object_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._iam.record(
            AuditEvent(
                event=event,
                outcome=outcome,
                reason=reason[:300],
                sub=user_id,
                act=(agent_id,),
                client_id=agent_id,
                object_id=object_id,
                details={"authorization_details": list(details), **(extra or {})},
            )
        )


def _approval(row: Any) -> Approval:
    return Approval(
        auth_req_id=row["auth_req_id"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        client_id=row["client_id"],
        action=row["action"],
        scopes=parse_scope(row["scope"]),
        details=tuple(json.loads(row["details"])),
        binding_message=row["binding_message"],
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        interval=row["interval"],
        next_poll=row["next_poll"],
        decided_by=row["decided_by"],
        jti=row["jti"],
    )


def _request_id() -> str:
    """An unguessable ``auth_req_id`` (CIBA §7.3) that never starts with ``-``: a person types
    it on a command line (``agent-iam approvals approve ID``), where that reads as an option."""
    while True:
        rid = secrets.token_urlsafe(24)
        if not rid.startswith("-"):
            return rid
