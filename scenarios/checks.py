"""Expectations for scenarios, each a :class:`~scenarios.model.Check` stated in words.

Audit checks read the run's own audit entries; world checks read the hotel's state. They
are what an architect reads in the report: “a denial at payment for sub=alice, act=
booking-assistant, reason 'amount above grant'”.
"""

from __future__ import annotations

import base64
import functools
import json
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agents.tools import TOKEN_SHAPE
from iam_core.store import SQLStore
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


def _encodings(secret: bytes, *, text: bool = True) -> list[str]:
    """How a secret may travel in text (percent-encoding is undone in the text searched,
    :func:`leaked`): as itself (a text secret), in hex, and inside any base64 (standard or
    URL-safe) at each of the three byte alignments it can take within a longer encoded value
    (``Authorization: Basic base64(client_id:secret)``, a PEM around a key's ``d``): the whole
    3-byte groups of the secret from that alignment on encode the same in any context."""
    found = {secret.hex()}
    for start in range(3):
        groups = secret[start:][: (len(secret) - start) // 3 * 3]
        found |= {base64.b64encode(groups).decode(), base64.urlsafe_b64encode(groups).decode()}
    if text:
        found.add(secret.decode())
    return sorted(f for f in found if len(f) >= MIN_FRAGMENT)


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


@functools.lru_cache(maxsize=1024)
def _key_credentials(private_value: int, size: int) -> tuple[str, ...]:
    """One private key's secret number (an EC key's ``d``, an RSA key's private exponent),
    as it may leak: in decimal, in hex, in any base64 at any alignment — which also finds it
    inside any PEM or DER of the key (PKCS#8, SEC1, PKCS#1) — and, for a P-256 key, the
    first line of its PKCS#8 PEM (a paste cut short: 12 bytes of ``d``, too few for the
    base64 of ``d`` to show)."""
    found = [str(private_value), *_encodings(private_value.to_bytes(size, "big"), text=False)]
    if size == 32:
        key = ec.derive_private_key(private_value, ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        found.append(pem.decode().splitlines()[1])
    return tuple(found)


def _private_numbers(key: object) -> tuple[int, int] | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.private_numbers().private_value, (key.curve.key_size + 7) // 8
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_numbers().d, (key.key_size + 7) // 8
    return None


def _private_keys(run: Run) -> list[object]:
    """Every private key the run's deployment holds: the agents' client keys, their
    runtimes' DPoP keys, the IAM's token-signing keys and its audit checkpoint key."""
    from agents.identity import AgentIdentity
    from iam_core.seed import DEMO_AGENTS

    keys: list[object] = [run.dep.keystore.private_key(agent.id) for agent in DEMO_AGENTS]
    for runtime in run.agents.values():
        if isinstance(runtime.identity, AgentIdentity):  # other profiles hold no DPoP key
            keys.append(runtime.identity.dpop._private)  # agents/dpop.py
    if run.dep.iam is not None:
        keys += [k.private for k in run.dep.iam.keys._keys.values()]  # iam_core/keys.py
        keys.append(run.dep.iam.audit._key._private)  # iam_core/audit_keys.py
    return keys


def _held_secrets(run: Run) -> list[str]:
    """The symmetric secrets the deployment made for itself: the IAM's audit MAC key and
    the DPoP nonce secrets of the IAM and of the services (each in its store)."""
    found: list[str] = []
    stores: list[SQLStore] = []
    if run.dep.iam is not None:
        found += _binary_credentials(run.dep.iam.audit._key._mac_key)
        stores.append(run.dep.iam.store)
    if run.dep.hotel is not None:
        stores.append(run.dep.hotel.world.store)
    for store in stores:
        row = store.one("SELECT secret FROM dpop_nonce_secret WHERE name = 'dpop-nonce'")
        if row is not None:
            found += _binary_credentials(bytes.fromhex(str(row["secret"])))
    return found


@functools.lru_cache(maxsize=256)
def _binary_credentials(secret: bytes) -> tuple[str, ...]:
    return tuple(_encodings(secret, text=False))


def handles(run: Run) -> list[str]:
    """The opaque handles of this run that stand for a grant: CIBA ``auth_req_id``s (a
    client redeems one for a token). The IAM's audit names them as the objects of its
    entries, so they are a leak in transcripts and requests only (:func:`no_secrets_anywhere`).
    Authorization codes and login sessions are stored as digests only, and the clients drop
    them as soon as they are used, so the run keeps nothing to compare against."""
    if run.dep.iam is None:
        return []
    rows = run.dep.iam.store.all("SELECT auth_req_id FROM approvals")
    return [rid for r in rows if len(rid := str(r["auth_req_id"])) >= MIN_FRAGMENT]


def credentials(run: Run) -> list[str]:
    """Every credential the deployment holds, in every usual encoding (docs/attacks.md #20):
    the shared API key, client secrets, passwords, the private keys of agents, their DPoP
    proofs and the IAM, the IAM's and the services' own symmetric secrets. JWT-shaped
    strings are matched by shape (:func:`leaked`)."""
    found = list(_static_credentials())
    for key in _private_keys(run):
        numbers = _private_numbers(key)
        if numbers is not None:
            found += _key_credentials(*numbers)
    return found + _held_secrets(run)


def _searchable(texts: list[str]) -> str:
    """The texts as searched: lower case (hex is written either way; ≥ 12 characters of a
    credential do not match ordinary text by chance), whitespace and JSON's escaped line
    breaks taken out (a PEM or base64 value wrapped at any width, inside a JSON string too),
    and, where there is a ``%``, percent-decoded as well (a secret or its base64 in a URL)."""
    blob = "\n".join(texts)
    if "%" in blob:
        blob += "\n" + unquote(blob)
    blob = blob.lower().replace("\\n", " ").replace("\\r", " ")
    return "".join(blob.split())


def leaked(run: Run, texts: list[str], *, with_handles: bool = True) -> bool:
    """Whether any text holds a credential of the deployment (by shape for a JWT, by value
    for every other, :func:`credentials`), or, ``with_handles``, one of the run's grant
    handles (:func:`handles`)."""
    blob = "\n".join(texts)
    if TOKEN_SHAPE.search(blob):
        return True
    found = credentials(run) + (handles(run) if with_handles else [])
    searched = _searchable(texts)
    return any(c in searched for c in _lowered(tuple(found)))


@functools.lru_cache(maxsize=64)
def _lowered(found: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({c.lower() for c in found}))


def no_secrets_anywhere() -> Check:
    """No credential of the deployment in any transcript, model context, world text or audit
    entry (JWTs by shape, every other credential it holds by value), and no grant handle of
    the run in a transcript or a request (the audit names them, by design)."""

    def holds(run: Run) -> bool:
        texts: list[str] = [t for c in run.conversations for t in c.texts()]
        texts += [r.text for r in run.world.requests()]
        audit = [json.dumps(e.to_dict()) for e in run.audit()]
        return not leaked(run, texts) and not leaked(run, audit, with_handles=False)

    return Check("no credential in any transcript, request or audit entry", holds)
