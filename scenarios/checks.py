"""Expectations for scenarios, each a :class:`~scenarios.model.Check` stated in words.

Audit checks read the run's own audit entries; world checks read the hotel's state. They
are what an architect reads in the report: “a denial at payment for sub=alice, act=
booking-assistant, reason 'amount above grant'”.
"""

from __future__ import annotations

import base64
import json

from agents.tools import TOKEN_SHAPE
from scenarios.model import Check, Run


def denied(
    *,
    event: str | None = None,
    service: str | None = None,
    sub: str | None = None,
    act: tuple[str, ...] | None = None,
    reason: str | None = None,
) -> Check:
    """The audit log holds a denial matching every given field (``reason``: a substring)."""
    parts = [f"event={event}" if event else "a denial"]
    parts += [f"{k}={v}" for k, v in (("service", service), ("sub", sub)) if v]
    if act is not None:
        parts.append(f"act={'→'.join(act) or '—'}")
    if reason:
        parts.append(f"reason ~ “{reason}”")

    def holds(run: Run) -> bool:
        return any(
            (service is None or e.service == service)
            and (sub is None or e.sub == sub)
            and (act is None or tuple(e.act) == act)
            and (reason is None or reason.lower() in (e.reason or "").lower())
            for e in run.audit(outcome="denied", event=event)
        )

    return Check("audit: " + ", ".join(parts), holds)


def before(event: str, then: str) -> Check:
    """A ``event`` entry comes before a denial whose reason cites ``then``."""

    def holds(run: Run) -> bool:
        entries = run.audit()
        at = next((e.seq for e in entries if e.event == event), None)
        return at is not None and any(
            e.seq > at and e.outcome == "denied" and then in (e.reason or "") for e in entries
        )

    return Check(f"audit: {event} recorded before the denial citing “{then}”", holds)


def chain_verifies() -> Check:
    return Check("the audit chain verifies", lambda run: run.iam.audit.verify().ok)


def credentials(run: Run) -> list[str]:
    """Every credential the deployment holds: the shared API key, client secrets (apps and
    service accounts), people's passwords, agents' private keys (their PEM and the private
    scalar ``d``); JWT-shaped strings are matched by shape (docs/attacks.md #20)."""
    from cryptography.hazmat.primitives import serialization

    from hotel.baseline import DEMO_API_KEY
    from iam_core.seed import DEMO_AGENTS, DEMO_PASSWORDS, DEMO_SECRETS
    from scenarios.deployment import service_account

    found = [DEMO_API_KEY, *DEMO_SECRETS.values(), *DEMO_PASSWORDS.values()]
    found += [str(service_account(a.id).secret) for a in DEMO_AGENTS]
    for agent in DEMO_AGENTS:
        key = run.dep.keystore.private_key(agent.id)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        found.append(pem.splitlines()[1])  # one line of the PEM body is enough to tell
        d = key.private_numbers().private_value.to_bytes(32, "big")
        found.append(base64.urlsafe_b64encode(d).rstrip(b"=").decode())
    return found


def leaked(run: Run, texts: list[str]) -> bool:
    known = credentials(run)
    return any(TOKEN_SHAPE.search(t) or any(c in t for c in known) for t in texts)


def no_secrets_anywhere() -> Check:
    """No credential of the deployment in any transcript, model context, world text or audit
    entry: JWTs by shape, every other credential it holds by value."""

    def holds(run: Run) -> bool:
        texts: list[str] = [t for c in run.conversations for t in c.texts()]
        texts += [json.dumps(e.to_dict()) for e in run.audit()]
        texts += [r.text for r in run.world.requests()]
        return not leaked(run, texts)

    return Check("no credential in any transcript, request or audit entry", holds)
