"""Expectations for scenarios, each a :class:`~scenarios.model.Check` stated in words.

Audit checks read the run's own audit entries; world checks read the hotel's state. They
are what an architect reads in the report: “a denial at payment for sub=alice, act=
booking-assistant, reason 'amount above grant'”.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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


MIN_FRAGMENT = 12  # shorter pieces of an encoding would match ordinary text by chance


def _encodings(secret: bytes) -> list[str]:
    """How a secret may travel in text: as itself, percent-encoded, in hex, and inside any
    base64 (standard or URL-safe) — at each of the three byte alignments it can take within
    a longer encoded value (``Authorization: Basic base64(client_id:secret)``): the whole
    3-byte groups of the secret from that alignment on encode the same in any context."""
    raw = secret.decode("latin-1")
    found = {quote(secret, safe=""), secret.hex()}
    for start in range(3):
        groups = secret[start:][: (len(secret) - start) // 3 * 3]
        found |= {base64.b64encode(groups).decode(), base64.urlsafe_b64encode(groups).decode()}
    return [raw, *sorted(f for f in found if len(f) >= MIN_FRAGMENT and f != raw)]


@functools.cache
def _static_credentials() -> tuple[str, ...]:
    """The deployment's shared secrets: the shared API key, every app's and service
    account's client secret (the front door's too), every person's password."""
    from hotel.baseline import DEMO_API_KEY
    from iam_core.seed import DEMO_AGENTS, DEMO_PASSWORDS, DEMO_SECRETS
    from scenarios.deployment import service_account

    secrets = [DEMO_API_KEY, *DEMO_SECRETS.values(), *DEMO_PASSWORDS.values()]
    secrets += [str(service_account(a.id).secret) for a in DEMO_AGENTS]
    return tuple(sorted({e for s in secrets for e in _encodings(s.encode())}))


@functools.lru_cache(maxsize=512)
def _key_credentials(private_value: int) -> tuple[str, ...]:
    """One EC private key, as it may leak: a line of its PKCS#8 or SEC1 PEM, and its private
    scalar ``d`` (JWK base64url, standard base64, hex)."""
    key = ec.derive_private_key(private_value, ec.SECP256R1())
    found = []
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        found.append(pem.decode().splitlines()[1])  # one line of the body is enough to tell
    found += _encodings(private_value.to_bytes(32, "big"))
    return tuple(found)


def _private_keys(run: Run) -> list[Any]:
    """Every private key the run's deployment holds: the agents' client keys, their
    runtimes' DPoP keys, the IAM's signing keys."""
    from iam_core.seed import DEMO_AGENTS

    keys: list[Any] = [run.dep.keystore.private_key(agent.id) for agent in DEMO_AGENTS]
    runtimes = getattr(run, "agents", None)
    for runtime in runtimes.values() if isinstance(runtimes, dict) else ():
        dpop = getattr(getattr(runtime, "identity", None), "dpop", None)
        keys.append(getattr(dpop, "_private", None))  # the runtime's key (agents/dpop.py)
    ring = getattr(getattr(run.dep, "iam", None), "keys", None)
    held = getattr(ring, "_keys", None)  # the IAM's signing keys (iam_core/keys.py)
    keys += [k.private for k in held.values()] if isinstance(held, dict) else []
    return [k for k in keys if isinstance(k, ec.EllipticCurvePrivateKey)]


def credentials(run: Run) -> list[str]:
    """Every credential the deployment holds, in every usual encoding (docs/attacks.md #20):
    the shared API key, client secrets, passwords, and the private keys of agents, their
    DPoP proofs and the IAM. JWT-shaped strings are matched by shape (:func:`leaked`)."""
    found = list(_static_credentials())
    for key in _private_keys(run):
        found += _key_credentials(key.private_numbers().private_value)
    return found


def leaked(run: Run, texts: list[str]) -> bool:
    """Whether any text holds a credential: compared without case (hex is written either
    way; ≥ 12 characters of a credential do not match ordinary text by chance), as written
    and with the whitespace taken out (a PEM or base64 value wrapped at another width)."""
    blob = "\n".join(texts)
    if TOKEN_SHAPE.search(blob):
        return True
    # No credential holds whitespace: one found as written is found in the compact text too.
    compact = "".join(blob.lower().split())
    return any(c in compact for c in _lowered(tuple(credentials(run))))


@functools.lru_cache(maxsize=64)
def _lowered(found: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({c.lower() for c in found}))


def no_secrets_anywhere() -> Check:
    """No credential of the deployment in any transcript, model context, world text or audit
    entry: JWTs by shape, every other credential it holds by value."""

    def holds(run: Run) -> bool:
        texts: list[str] = [t for c in run.conversations for t in c.texts()]
        texts += [json.dumps(e.to_dict()) for e in run.audit()]
        texts += [r.text for r in run.world.requests()]
        return not leaked(run, texts)

    return Check("no credential in any transcript, request or audit entry", holds)
