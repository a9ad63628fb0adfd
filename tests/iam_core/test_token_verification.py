"""Strict access-token verification (RFC 8725 §3, RFC 9068 §4): each check can fail alone."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from iam_core.clock import ManualClock
from iam_core.errors import TokenError
from iam_core.iam import IAM
from iam_core.registry import SIMULATION_HASHER
from iam_core.store import Store
from iam_core.tokens import Token, TokenType

AUD = "http://127.0.0.1:8000/hotel/booking"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def iam(clock: ManualClock) -> IAM:
    return IAM(Store(), clock=clock, hasher=SIMULATION_HASHER)


def mint(iam: IAM, **extra: Any) -> tuple[str, Token]:
    return iam.minter.mint(
        TokenType.OBO,
        sub="alice",
        client_id="hotel-web",
        audience=AUD,
        scopes=frozenset({"booking:read"}),
        act={"sub": "booking-assistant"},
        extra=extra,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(iam: IAM, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """Sign arbitrary claims/header with the issuer's own current key (a genuine signature)."""
    key = iam.keys._current()  # the test plays the issuer to build edge cases
    return jwt.encode(claims, key.private, algorithm="ES256", headers=header)


def header_of(iam: IAM) -> dict[str, Any]:
    return {"kid": iam.keys.current_kid, "typ": "at+jwt"}


def test_a_genuine_token_verifies_and_is_classified(iam: IAM) -> None:
    """The minted OBO token verifies for its audience with its act chain."""
    token, _ = mint(iam)
    verified = iam.verifier.verify(token, audience=AUD)
    assert verified.token_type is TokenType.OBO and verified.actors == ("booking-assistant",)


def test_another_audience_is_refused(iam: IAM) -> None:
    """A token for booking is worthless at payment (RFC 8707, RFC 9068 §4 step 3)."""
    token, _ = mint(iam)
    with pytest.raises(TokenError, match="audience"):
        iam.verifier.verify(token, audience="http://127.0.0.1:8000/hotel/payment")


def test_an_expired_token_is_refused_after_the_leeway(iam: IAM, clock: ManualClock) -> None:
    """exp is checked against the clock with a 30 s leeway."""
    token, _ = mint(iam)
    clock.advance(300 + 29)
    iam.verifier.verify(token, audience=AUD)
    clock.advance(2)
    with pytest.raises(TokenError, match="expired"):
        iam.verifier.verify(token, audience=AUD)


def test_a_token_not_yet_valid_is_refused(iam: IAM, clock: ManualClock) -> None:
    """nbf in the future beyond the leeway fails."""
    _, token = mint(iam)
    claims = dict(token.claims, nbf=int(clock.now()) + 120)
    with pytest.raises(TokenError, match="nbf"):
        iam.verifier.verify(resign(iam, claims, header_of(iam)), audience=AUD)


def test_a_token_issued_in_the_future_is_refused(iam: IAM, clock: ManualClock) -> None:
    """iat in the future beyond the leeway fails."""
    _, token = mint(iam)
    claims = dict(token.claims, iat=int(clock.now()) + 120)
    with pytest.raises(TokenError, match="iat"):
        iam.verifier.verify(resign(iam, claims, header_of(iam)), audience=AUD)


def test_another_issuer_is_refused(iam: IAM) -> None:
    """iss must be this issuer."""
    _, token = mint(iam)
    claims = dict(token.claims, iss="https://evil.example")
    with pytest.raises(TokenError, match="issuer"):
        iam.verifier.verify(resign(iam, claims, header_of(iam)), audience=AUD)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
def test_each_required_claim_must_be_present(iam: IAM, claim: str) -> None:
    """RFC 9068 §2.2 claims are required."""
    _, token = mint(iam)
    claims = {k: v for k, v in token.claims.items() if k != claim}
    with pytest.raises(TokenError):
        iam.verifier.verify(resign(iam, claims, header_of(iam)), audience=AUD)


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt+x", "dpop+jwt"])
def test_the_typ_header_must_be_at_jwt(iam: IAM, typ: str | None) -> None:
    """RFC 9068 §4: a token with another typ (e.g. an ID token) is not an access token."""
    _, token = mint(iam)
    header: dict[str, Any] = {"kid": iam.keys.current_kid}
    if typ:
        header["typ"] = typ
    with pytest.raises(TokenError, match="typ"):
        iam.verifier.verify(resign(iam, dict(token.claims), header), audience=AUD)


def test_alg_none_is_refused(iam: IAM) -> None:
    """An unsigned token never verifies (RFC 8725 §3.1)."""
    _, token = mint(iam)
    head = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": iam.keys.current_kid}).encode())
    body = b64(json.dumps(dict(token.claims)).encode())
    with pytest.raises(TokenError):
        iam.verifier.verify(f"{head}.{body}.", audience=AUD)
    with pytest.raises(TokenError):
        iam.verifier.verify(f"{head}.{body}.AAAA", audience=AUD)


def test_hs256_keyed_with_the_public_key_is_refused(iam: IAM) -> None:
    """The algorithm-confusion attack: HMAC with the published public key."""
    _, token = mint(iam)
    public = iam.keys._current().private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = {"alg": "HS256", "typ": "at+jwt", "kid": iam.keys.current_kid}
    signing_input = (
        f"{b64(json.dumps(head).encode())}.{b64(json.dumps(dict(token.claims)).encode())}"
    )
    import hashlib
    import hmac

    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="alg"):
        iam.verifier.verify(f"{signing_input}.{b64(signature)}", audience=AUD)


def test_an_unknown_kid_is_refused(iam: IAM) -> None:
    """A kid not in the JWKS is refused, never guessed."""
    _, token = mint(iam)
    header = {"kid": "not-a-key", "typ": "at+jwt"}
    with pytest.raises(TokenError, match="unknown kid"):
        iam.verifier.verify(resign(iam, dict(token.claims), header), audience=AUD)


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "crit"])
def test_headers_that_point_elsewhere_for_keys_are_refused(iam: IAM, name: str) -> None:
    """A token may not tell us where to find its key (RFC 8725 §3.10)."""
    _, token = mint(iam)
    header = dict(header_of(iam), **{name: "https://evil.example/k" if name != "crit" else ["x"]})
    with pytest.raises(TokenError, match=name):
        iam.verifier.verify(resign(iam, dict(token.claims), header), audience=AUD)


def test_a_flipped_signature_bit_is_refused(iam: IAM) -> None:
    """The signature covers header and payload."""
    token, _ = mint(iam)
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[5] ^= 0x01
    with pytest.raises(TokenError, match="signature"):
        iam.verifier.verify(f"{head}.{body}.{b64(bytes(raw))}", audience=AUD)


def test_an_edited_payload_is_refused(iam: IAM) -> None:
    """Changing sub without re-signing breaks the signature."""
    token, claims_token = mint(iam)
    head, _, sig = token.split(".")
    forged = b64(json.dumps(dict(claims_token.claims, sub="bob")).encode())
    with pytest.raises(TokenError, match="signature"):
        iam.verifier.verify(f"{head}.{forged}.{sig}", audience=AUD)


@pytest.mark.parametrize(
    "bad", ["", "abc", "a.b", "a.b.c.d", "eyJ.eyJ.", "####.####.####", "é.é.é", "a" * 9000]
)
def test_malformed_tokens_are_refused_without_crashing(iam: IAM, bad: str) -> None:
    """Wrong segment counts, bad base64, oversize: a TokenError, never another exception."""
    with pytest.raises(TokenError):
        iam.verifier.verify(bad, audience=AUD)


def test_a_forged_act_that_is_not_an_object_is_refused(iam: IAM) -> None:
    """act must be a nested object of string subs."""
    _, token = mint(iam)
    claims = dict(token.claims, act="booking-assistant")
    with pytest.raises(TokenError, match="act"):
        iam.verifier.verify(resign(iam, claims, header_of(iam)), audience=AUD)


def test_rotation_keeps_old_tokens_valid_until_they_expire(iam: IAM, clock: ManualClock) -> None:
    """The next key was published before it signs; the old one stays for the longest lifetime."""
    old_token, _ = mint(iam)
    old_kid = iam.keys.current_kid
    published_before = {k["kid"] for k in iam.keys.jwks()["keys"]}
    new_kid = iam.keys.rotate()
    new_token, _ = mint(iam)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    assert new_kid in published_before  # known to every verifier before its first token
    assert {old_kid, new_kid} <= {k["kid"] for k in iam.keys.jwks()["keys"]}
    iam.verifier.verify(old_token, audience=AUD)
    clock.advance(iam.config.lifetimes.longest + iam.config.leeway + 1)
    assert old_kid not in {k["kid"] for k in iam.keys.jwks()["keys"]}
    assert len(iam.keys.jwks()["keys"]) == 1 + iam.keys.AHEAD  # the signer and the next keys
    with pytest.raises(TokenError):
        iam.verifier.verify(old_token, audience=AUD)


def test_rs256_keys_are_supported(clock: ManualClock) -> None:
    """An issuer may sign with RS256; the JWKS says so and tokens verify."""
    from iam_core.iam import IAMConfig

    iam = IAM(Store(), config=IAMConfig(signing_alg="RS256"), clock=clock, hasher=SIMULATION_HASHER)
    token, _ = mint(iam)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert iam.keys.jwks()["keys"][0]["kty"] == "RSA"
    iam.verifier.verify(token, audience=AUD)


def test_keys_survive_a_restart_of_a_file_database(tmp_path: Any, clock: ManualClock) -> None:
    """A token signed before a restart verifies after it."""
    first = IAM.open(tmp_path / "iam.db", clock=clock, hasher=SIMULATION_HASHER)
    token, _ = mint(first)
    first.store.close()
    second = IAM.open(tmp_path / "iam.db", clock=clock, hasher=SIMULATION_HASHER)
    assert second.verifier.verify(token, audience=AUD).sub == "alice"
