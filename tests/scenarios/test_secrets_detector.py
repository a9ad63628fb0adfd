"""The secrets check knows every credential the deployment holds, in every usual encoding
(scenarios/checks.py; docs/attacks.md #20): a credential that reaches a transcript, a
request or an audit entry fails the run, however it was dressed. Each test plants one
credential in one encoding into text and runs the real detector on a real run's
deployment (its agents' keys, their runtimes' DPoP keys, the IAM's signing and audit keys,
the IAM's and the services' DPoP nonce secrets, the run's CIBA approvals); each fails when
the support for its encoding or its credential is taken out of the detector."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agents.identity import AgentIdentity
from agents.llm.client import ModelSettings, open_model
from hotel.baseline import DEMO_API_KEY
from iam_core.seed import DEMO_PASSWORDS, DEMO_SECRETS
from scenarios.catalogue import by_id
from scenarios.checks import leaked, no_secrets_anywhere
from scenarios.deployment import service_account
from scenarios.model import Run

FRONT_DOOR_SECRET = DEMO_SECRETS["hotel-chat"]
SECRETS = {
    "shared key": DEMO_API_KEY,
    "front door secret": FRONT_DOOR_SECRET,
    "service account secret": str(service_account("booking-assistant").secret),
    "password": DEMO_PASSWORDS["alice"],
}


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """A real run, kept open: alice has the booking assistant pay for her booking (agent
    IAM), which she approves through CIBA, so the run holds an ``auth_req_id`` too."""
    found: list[Run] = []
    done = asyncio.Event()

    async def hold() -> None:
        from scenarios.runner import live_run

        scenario = by_id()["c23a-replay-the-approval-token"]
        async with (
            open_model(ModelSettings(model="embedded-obedient")) as model,
            live_run(scenario, "benign", seed=0, model=model) as (_, played),
        ):
            found.append(played)
            await done.wait()

    loop = asyncio.new_event_loop()
    task = loop.create_task(hold())
    while not found:
        loop.run_until_complete(asyncio.sleep(0.01))
    yield found[0]
    done.set()
    loop.run_until_complete(task)
    loop.close()


def _b64(data: bytes, alphabet: str = "standard") -> str:
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    return encode(data).decode()


# -- shared secrets: client secrets, the shared API key, passwords --------------------------

SHARED_DRESSES: dict[str, Callable[[str], str]] = {
    "raw": lambda s: f"mailed: {s}",
    "hex": lambda s: s.encode().hex().upper(),
    "basic auth": lambda s: "Authorization: Basic " + _b64(f"hotel-chat:{s}".encode()),
    "base64 at 0": lambda s: "x=" + _b64(s.encode()),
    "base64 at 1": lambda s: "x=" + _b64(f"a{s}".encode()),
    "base64 at 2": lambda s: "x=" + _b64(f"ab{s}".encode()),
    "url-safe base64 at 1": lambda s: _b64(f"a{s}!".encode(), "urlsafe").rstrip("="),
    # Every byte percent-encoded: no piece of the secret is left as written.
    "percent": lambda s: "q=" + "".join(f"%{b:02X}" for b in s.encode()),
    # Base64 wrapped at 76 (MIME) inside a JSON string: the secret straddles an escaped line
    # break, so only the text with JSON's "\n" taken out holds its encoding whole.
    "json-wrapped base64": lambda s: json.dumps(
        {"attachment": base64.encodebytes(b"x" * 50 + s.encode()).decode()}
    ),
}


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("dress", SHARED_DRESSES)
def test_a_shared_secret_is_found_however_encoded(run: Run, name: str, dress: str) -> None:
    text = SHARED_DRESSES[dress](SECRETS[name])
    assert SECRETS[name] not in text or dress == "raw"  # the dress hides the secret as written
    assert leaked(run, [text]), (name, dress)


# -- private keys: the agents', their runtimes' DPoP keys, the IAM's --------------------------


def _keys(run: Run) -> dict[str, ec.EllipticCurvePrivateKey]:
    identity = run.agents["booking-assistant"].identity
    assert isinstance(identity, AgentIdentity)
    assert run.dep.iam is not None
    (signing, *_) = [k.private for k in run.dep.iam.keys._keys.values()]
    assert isinstance(signing, ec.EllipticCurvePrivateKey)
    return {
        "agent key": run.dep.keystore.private_key("booking-assistant"),
        "DPoP key": identity.dpop._private,
        "IAM signing key": signing,
        "IAM audit key": run.dep.iam.audit._key._private,
    }


def _d(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def _pem(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


PKCS8 = serialization.PrivateFormat.PKCS8
SEC1 = serialization.PrivateFormat.TraditionalOpenSSL
KEY_FORMS: dict[str, Callable[[ec.EllipticCurvePrivateKey], str]] = {
    "pkcs8 pem": lambda k: _pem(k, PKCS8),
    "sec1 pem": lambda k: _pem(k, SEC1),
    "pkcs8 pem, first line only": lambda k: "\n".join(_pem(k, PKCS8).splitlines()[:2]),
    "pem rewrapped": lambda k: "\n".join(
        "".join(_pem(k, SEC1).splitlines()[1:-1])[i : i + 50] for i in range(0, 200, 50)
    ),
    "pem percent-encoded": lambda k: "key=" + quote(_pem(k, SEC1), safe=""),
    "jwk d": lambda k: json.dumps({"kty": "EC", "d": _b64(_d(k), "urlsafe").rstrip("=")}),
    "base64 d": lambda k: _b64(_d(k)),
    "hex d": lambda k: _d(k).hex(),
    "decimal d": lambda k: f"EllipticCurvePrivateNumbers({k.private_numbers().private_value})",
}


@pytest.mark.parametrize("name", ["agent key", "DPoP key", "IAM signing key", "IAM audit key"])
@pytest.mark.parametrize("form", KEY_FORMS)
def test_a_private_key_is_found_in_every_form(run: Run, name: str, form: str) -> None:
    assert leaked(run, [f"the key: {KEY_FORMS[form](_keys(run)[name])}"]), (name, form)


def test_a_key_in_url_safe_base64_is_found_at_every_alignment(run: Run) -> None:
    """``d`` is binary, so its URL-safe base64 differs from the standard one (``-_`` for
    ``+/``); planted after 0, 1 and 2 filler bytes, each of the keys' is found."""
    planted = [
        _b64(b"\0" * filler + _d(key), "urlsafe")
        for key in _keys(run).values()
        for filler in range(3)
    ]
    assert any("-" in p or "_" in p for p in planted)  # the alphabets differ here
    for text in planted:
        assert leaked(run, [text]), text


# -- symmetric secrets the deployment made, and the run's grant handles ----------------------


def _nonce_secrets(run: Run) -> dict[str, bytes]:
    stores = {"IAM": run.iam.store, "services": run.world.store}
    found = {}
    for name, store in stores.items():
        row = store.one("SELECT secret FROM dpop_nonce_secret WHERE name = 'dpop-nonce'")
        assert row is not None
        found[f"{name} DPoP nonce secret"] = bytes.fromhex(str(row["secret"]))
    return found


SYMMETRIC = ["IAM audit MAC key", "IAM DPoP nonce secret", "services DPoP nonce secret"]
ENCODE: dict[str, Callable[[bytes], str]] = {
    "hex": bytes.hex,
    "base64": _b64,
    "url-safe base64": lambda b: _b64(b"\0" + b, "urlsafe"),
}


@pytest.mark.parametrize("name", SYMMETRIC)
@pytest.mark.parametrize("encoding", ENCODE)
def test_the_deployments_own_symmetric_secrets_are_found(
    run: Run, name: str, encoding: str
) -> None:
    secret = {"IAM audit MAC key": run.iam.audit._key._mac_key, **_nonce_secrets(run)}[name]
    assert leaked(run, [f"mac: {ENCODE[encoding](secret)}"]), (name, encoding)


def test_a_ciba_auth_req_id_is_a_leak_in_a_transcript_not_in_the_audit(run: Run) -> None:
    """The run's approval handle: a leak where a model or a request shows it; the IAM's
    audit names it as the object of its entries, which is no leak."""
    (rid,) = [str(r["auth_req_id"]) for r in run.iam.store.all("SELECT * FROM approvals")]
    assert leaked(run, [f"poll with auth_req_id={rid}"])
    assert not leaked(run, [json.dumps({"object_id": rid})], with_handles=False)
    assert any(rid in json.dumps(e.to_dict()) for e in run.audit())  # named there, by design
    assert no_secrets_anywhere().holds(run)


# -- what is no leak ---------------------------------------------------------------------------


def test_the_runs_own_texts_are_no_leak(run: Run) -> None:
    """The transcript, the model's context and the hotel's requests of a run that paid
    through an approval: none holds a credential or the approval's handle."""
    texts = [t for c in run.conversations for t in c.texts()]
    texts += [r.text for r in run.world.requests()]
    assert any("alice" in t for t in texts)
    assert not leaked(run, texts)
    assert not leaked(run, [json.dumps(e.to_dict()) for e in run.audit()], with_handles=False)


def test_ordinary_text_public_keys_and_other_keys_are_no_leak(run: Run) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    public = [
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for key in _keys(run).values()
    ]
    identity = run.agents["booking-assistant"].identity
    assert isinstance(identity, AgentIdentity)
    png = (  # a 1×1 PNG, as an image travels in a data URL
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlE"
        "QVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    texts = [
        "alice booked a double room at the Grand Meridian, bk-ALI001, €480.00",
        "Your booking bk-7f3a9c21 is confirmed; reference 4111-0000-2222-3333.",
        png,
        base64.b64encode(bytes(range(256))).decode(),  # an ordinary base64 blob
        _pem(stranger, PKCS8),  # a key the deployment never held
        "hotel-chat-demo",  # a fragment too short to tell
        *(p.decode() for p in public),  # the deployment's public keys are no secret
        json.dumps(identity.dpop._jwk),  # the DPoP public JWK each proof carries
        json.dumps(run.iam.keys.jwks()),  # the IAM's published keys
    ]
    assert not leaked(run, texts)
