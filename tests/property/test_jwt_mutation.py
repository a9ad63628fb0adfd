"""JWT mutation: a genuine access token, broken every way an attacker (or a bug) could.

Two families of mutant, each presented to a service route and to the IAM's ``/introspect``:

* **attacker mutants** — made without the issuer's key: ``alg`` swaps (``none``, HS256 keyed
  with the issuer's public key, RS256/ES256 signatures by the attacker's keys under the
  issuer's ``kid``), header injection (``kid`` path tricks, unknown ``kid``, ``jku``, ``x5u``,
  ``jwk``, ``x5c``, ``crit``), claim edits under the original signature (``aud`` arrays,
  ``iss``, ``exp``, ``nbf``, ``iat``, ``typ``, forged or deepened ``act``, swapped ``sub``,
  ``cnf``), signature bit flips and truncation, segment counts, non-canonical base64, oversize;
* **issuer-signed defects** — claims or headers a correct token never has, signed with the
  issuer's real key, so that each verification check (not just the signature) is what stops it.

Every mutant: 401 with a ``Bearer`` challenge and exactly one ``denied`` audit entry at the
service — never a 2xx, never a 5xx — and ``{"active": false}`` at introspection (except where
introspection rightly ignores the audience). The genuine token itself is accepted, so that the
test can fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from anyio.from_thread import BlockingPortal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent_iam import token_flows
from iam_core.clock import ManualClock
from iam_core.keys import public_jwk
from scenarios.deployment import Deployment
from tests.hotel.helpers import BA, assert_clean_challenge, bearer, decisions, url
from tests.property.support import START, b64, b64json, join, served, split, unb64

MUTANTS = settings(
    max_examples=max(20, settings.default.max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ATTACKER_EC = ec.generate_private_key(ec.SECP256R1())
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Genuine:
    portal: BlockingPortal
    dep: Deployment
    clock: ManualClock
    raw: str
    service: str
    path: str

    @property
    def iam(self) -> Any:
        assert self.dep.iam is not None
        return self.dep.iam


@pytest.fixture(scope="module")
def genuine() -> Iterator[Genuine]:
    """alice's OBO token for booking-assistant at booking, on a deployment of its own."""
    clock = ManualClock(START)
    with served(clock) as (portal, dep):
        response = portal.call(
            lambda: token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", "booking")
        )
        token = Genuine(portal, dep, clock, str(response["access_token"]), "booking", "/bookings")
        _ISSUER_PUBLIC[:] = [token.iam.keys.get_key(token.iam.keys.current_kid).key]
        assert present(token, token.raw)[0] == 200  # the unbroken token gets in
        yield token


def present(g: Genuine, raw: str) -> tuple[int, list[Any], str]:
    """The token at the service: status, the decisions it caused, the response text."""
    before = len(g.iam.audit)

    async def call() -> Any:
        return await g.dep.http.get(url(g.dep, g.service, g.path), headers=bearer(raw))

    response = g.portal.call(call)
    if response.status_code == 401:
        assert_clean_challenge(response)
        assert response.headers["www-authenticate"].startswith("Bearer ")
    return response.status_code, decisions(g.dep, before), response.text


def introspected(g: Genuine, raw: str) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        # The resource servers' own client: it may introspect tokens of its audiences (RFC 7662 §4).
        return await g.dep.oauth.introspect(raw, as_app=g.dep.app("hotel-services"))

    return dict(g.portal.call(call))


def assert_refused(g: Genuine, mutant: str, *, introspect: bool = True) -> None:
    assert mutant != g.raw
    status, entries, text = present(g, mutant)
    assert status == 401, (status, text, mutant[:200])
    assert [e.outcome for e in entries] == ["denied"], entries
    if introspect:
        assert introspected(g, mutant) == {"active": False}


# -- attacker mutants --------------------------------------------------------------------
Mutation = Callable[[str], str]


def _with_header(**changes: Any) -> Mutation:
    def mutate(raw: str) -> str:
        header, claims, sig = split(raw)
        header.update(changes)
        return join({k: v for k, v in header.items() if v is not _DROP}, claims, sig)

    return mutate


def _with_claims(**changes: Any) -> Mutation:
    def mutate(raw: str) -> str:
        header, claims, sig = split(raw)
        claims.update(changes)
        return join(header, {k: v for k, v in claims.items() if v is not _DROP}, sig)

    return mutate


_DROP = object()


def _resigned(alg: str, key: Any, **extra_header: Any) -> Mutation:
    """Signed by the attacker under the issuer's kid (or an embedded/linked key)."""

    def mutate(raw: str) -> str:
        header, claims, _ = split(raw)
        headers = {"kid": header["kid"], "typ": header["typ"], **extra_header}
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    return mutate


def _hs256_with(secret_of: Callable[[Any], bytes]) -> Mutation:
    """RFC 8725 §2.1's algorithm confusion: an HMAC keyed with the issuer's *public* key."""

    def mutate(raw: str) -> str:
        header, claims, _ = split(raw)
        public = _ISSUER_PUBLIC[0]
        forged = {**header, "alg": "HS256"}
        signing_input = f"{b64json(forged)}.{b64json(claims)}"
        mac = hmac.new(secret_of(public), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    return mutate


_ISSUER_PUBLIC: list[Any] = []  # filled by the fixture: the issuer's current public key


def _pem(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _flip_bit(position: int) -> Mutation:
    def mutate(raw: str) -> str:
        head, body, sig = raw.split(".")
        data = bytearray(unb64(sig))
        data[position % len(data)] ^= 1 << (position % 8)
        return f"{head}.{body}.{b64(bytes(data))}"

    return mutate


def _truncate(keep: int) -> Mutation:
    def mutate(raw: str) -> str:
        head, body, sig = raw.split(".")
        return f"{head}.{body}.{b64(unb64(sig)[: keep % 64])}"

    return mutate


def _segments(count: int) -> Mutation:
    def mutate(raw: str) -> str:
        parts = raw.split(".")
        return ".".join((parts * 2)[:count]) if count else raw.replace(".", "")

    return mutate


def _non_canonical(segment: int) -> Mutation:
    """The same bytes spelled another way: padding, or spare low bits set (in the signature
    segment the only change; in the others it also changes the signing input)."""

    def mutate(raw: str) -> str:
        parts = raw.split(".")
        text = parts[segment]
        if len(text) % 4 == 1 or len(text) % 4 == 0:
            parts[segment] = text + "=="  # padding where base64url (RFC 7515 §2) has none
        else:
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            last = alphabet.index(text[-1])
            spare = 4 if len(text) % 4 == 2 else 2  # low bits that carry no data
            parts[segment] = text[:-1] + alphabet[last ^ (1 << (spare - 1))]
        return ".".join(parts)

    return mutate


def _oversize(extra: int) -> Mutation:
    return _with_claims(padding="x" * (8192 + extra))


def _garbage(text: str) -> Mutation:
    return lambda raw: text


_KID_TRICKS = [
    "../../../../../../dev/null",
    "/etc/passwd",
    "../jwks.json",
    "' OR '1'='1",
    "kid\x00",
    "https://attacker.example/key",
    "",
]

attacker_mutations: st.SearchStrategy[Mutation] = st.one_of(
    # alg swaps
    st.sampled_from(
        ["none", "None", "NONE", "HS256", "HS512", "RS256", "PS256", "ES384", "EdDSA"]
    ).map(lambda alg: _with_header(alg=alg)),
    st.just(_hs256_with(_pem)),
    st.just(_hs256_with(lambda key: json.dumps(public_jwk(key)).encode())),
    st.just(_resigned("ES256", ATTACKER_EC)),
    st.just(_resigned("RS256", ATTACKER_RSA)),
    st.just(_resigned("ES256", ATTACKER_EC, jwk=public_jwk(ATTACKER_EC.public_key()))),
    st.just(_resigned("ES256", ATTACKER_EC, jku="https://attacker.example/jwks.json")),
    st.just(
        lambda raw: ".".join([b64json({**split(raw)[0], "alg": "none"}), raw.split(".")[1], ""])
    ),
    # header injection
    st.sampled_from(_KID_TRICKS).map(lambda kid: _with_header(kid=kid)),
    st.text(min_size=1, max_size=40).map(lambda kid: _with_header(kid=kid)),
    st.sampled_from([_DROP, None, 7, ["a"]]).map(lambda kid: _with_header(kid=kid)),
    st.sampled_from(["jku", "x5u"]).map(
        lambda name: _with_header(**{name: "https://attacker.example/keys"})
    ),
    st.just(_with_header(jwk=public_jwk(ATTACKER_EC.public_key()))),
    st.just(_with_header(x5c=["MIIB"])),
    st.just(_with_header(crit=["exp"])),
    st.sampled_from(["JWT", "jwt", _DROP, "at+jwt ", "dpop+jwt"]).map(
        lambda t: _with_header(typ=t)
    ),
    # claim edits under the original signature
    st.sampled_from(["aud", "iss", "sub", "client_id", "jti"]).flatmap(
        lambda name: st.sampled_from(["https://attacker.example", "dave", ""]).map(
            lambda value: _with_claims(**{name: value})
        )
    ),
    st.just(lambda raw: _with_claims(aud=[split(raw)[1]["aud"], "https://attacker.example"])(raw)),
    st.integers(1, 10**7).map(
        lambda d: lambda raw: _with_claims(exp=split(raw)[1]["exp"] + d)(raw)
    ),
    st.integers(1, 10**7).map(
        lambda d: lambda raw: _with_claims(iat=split(raw)[1]["iat"] + d)(raw)
    ),
    st.integers(-(10**6), 10**6)
    .filter(bool)
    .map(lambda d: lambda raw: _with_claims(nbf=split(raw)[1]["nbf"] + d)(raw)),
    st.just(_with_claims(act={"sub": "staff-assistant"})),
    st.just(lambda raw: _with_claims(act={"sub": "mallory", "act": split(raw)[1]["act"]})(raw)),
    st.just(_with_claims(act=_DROP)),
    st.just(_with_claims(cnf={"jkt": b64(b"\x00" * 32)})),
    st.just(_with_claims(scope="booking:read payment:refund")),
    st.just(_with_claims(roles=["manager"])),
    # signature and structure
    st.integers(0, 511).map(_flip_bit),
    st.integers(0, 63).map(_truncate),
    st.just(lambda raw: raw + "AAAA"),
    st.sampled_from([0, 1, 2, 4, 5]).map(_segments),
    st.sampled_from([0, 1, 2]).map(_non_canonical),
    st.just(
        lambda raw: (
            raw.replace("-", "+").replace("_", "/") if "-" in raw or "_" in raw else raw + "+"
        )
    ),
    st.just(lambda raw: f" {raw}."),
    st.integers(0, 1000).map(_oversize),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60).map(_garbage),
    st.just(lambda raw: ".".join([b64(b"[]"), *raw.split(".")[1:]])),
    st.just(lambda raw: ".".join([b64(b'{"alg":NaN}'), *raw.split(".")[1:]])),
    st.just(lambda raw: ".".join([raw.split(".")[0], b64(b"\xff\xfe"), raw.split(".")[2]])),
)


@MUTANTS
@given(mutations=st.lists(attacker_mutations, min_size=1, max_size=2))
# The classics, every run: alg none, HMAC keyed with the public key, an unknown kid, the
# signature spelled another way (same bytes), an aud array naming another audience.
@example(mutations=[_with_header(alg="none")])
@example(mutations=[_hs256_with(_pem)])
@example(mutations=[_with_header(kid="../../../../dev/null")])
@example(mutations=[_non_canonical(2)])
@example(mutations=[_with_claims(aud=["https://attacker.example"])])
def test_attacker_mutants_are_refused_401_audited_and_inactive(
    genuine: Genuine, mutations: list[Mutation]
) -> None:
    mutant = genuine.raw
    for mutate in mutations:
        try:
            mutant = mutate(mutant)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, jwt.PyJWTError):
            continue  # a mutation that needs a JWT, after one that made garbage of it
    if mutant == genuine.raw or not mutant.strip():
        mutant = genuine.raw + "."  # a no-op mutation still breaks the segment count
    assert_refused(genuine, mutant)


# -- issuer-signed defects ---------------------------------------------------------------
def _issuer_signed(g: Genuine, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Signed with the issuer's current private key: only the claim checks can refuse it."""
    key = g.iam.keys._current()  # white box: the test plays a buggy or abused issuer
    signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
    signature = jwt.algorithms.get_default_algorithms()[key.alg].sign(signing_input, key.private)
    return f"{signing_input.decode()}.{b64(signature)}"


@dataclass(frozen=True)
class Defect:
    name: str
    header: dict[str, Any]
    claims: dict[str, Any]
    audience_only: bool = False  # introspection ignores the audience: it rightly says active


def _defects(now: int, issuer: str) -> st.SearchStrategy[Defect]:
    other = f"{issuer}/hotel/payment"
    late = st.integers(31, 10**8)
    values = st.sampled_from([5, "", None, ["x"], {"a": 1}, True])
    return st.one_of(
        late.map(lambda d: Defect("expired", {}, {"exp": now - d})),
        late.map(lambda d: Defect("nbf in the future", {}, {"nbf": now + d})),
        late.map(lambda d: Defect("iat in the future", {}, {"iat": now + d})),
        st.sampled_from([issuer + "/", "https://attacker.example", issuer.upper(), ""]).map(
            lambda iss: Defect("issuer", {}, {"iss": iss})
        ),
        st.sampled_from([other, [other], [], [other, "x"], 5]).map(
            lambda aud: Defect("audience", {}, {"aud": aud}, audience_only=True)
        ),
        st.sampled_from(["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]).map(
            lambda name: Defect(f"missing {name}", {}, {name: _DROP})
        ),
        st.tuples(st.sampled_from(["sub", "jti", "client_id"]), values)
        .filter(lambda nv: not isinstance(nv[1], str) or nv[1] == "")
        .map(lambda nv: Defect(f"{nv[0]} not a string", {}, {nv[0]: nv[1]})),
        st.tuples(st.sampled_from(["exp", "iat", "nbf"]), st.sampled_from(["soon", None, [1]])).map(
            lambda nv: Defect(f"{nv[0]} not a number", {}, {nv[0]: nv[1]})
        ),
        st.sampled_from([["booking:read"], 5, "booking:read\x01", 'booking:read "x"']).map(
            lambda scope: Defect("scope", {}, {"scope": scope})
        ),
        st.sampled_from(["booking-assistant", {"act": {"sub": "x"}}, {"sub": 5}, [1]]).map(
            lambda act: Defect("act", {}, {"act": act})
        ),
        st.sampled_from([{"aut": "AGENT"}, {"aut": "ROOT"}, {"aut": _DROP}]).map(
            lambda claims: Defect("aut", {}, claims)
        ),
        st.sampled_from(["JWT", "jwt", _DROP, "secevent+jwt", "dpop+jwt"]).map(
            lambda typ: Defect("typ", {"typ": typ}, {})
        ),
        st.sampled_from(["RS256", "none", "HS256", "ES512"]).map(
            lambda alg: Defect("alg", {"alg": alg}, {})
        ),
        st.sampled_from(["jku", "x5u", "jwk", "x5c", "crit"]).map(
            lambda name: Defect(f"header {name}", {name: ["https://attacker.example"]}, {})
        ),
        st.sampled_from(["unknown", "", 7, _DROP]).map(lambda kid: Defect("kid", {"kid": kid}, {})),
        st.integers(0, 2000).map(lambda n: Defect("oversize", {}, {"padding": "x" * (8192 + n)})),
    )


@MUTANTS
@given(data=st.data())
def test_issuer_signed_defects_are_refused_401_audited_and_inactive(
    genuine: Genuine, data: st.DataObject
) -> None:
    now = int(genuine.clock.now())
    defect = data.draw(_defects(now, genuine.iam.issuer), label="defect")
    header, claims, _ = split(genuine.raw)
    header = {k: v for k, v in {**header, **defect.header}.items() if v is not _DROP}
    claims = {k: v for k, v in {**claims, **defect.claims}.items() if v is not _DROP}
    mutant = _issuer_signed(genuine, header, claims)
    assert_refused(genuine, mutant, introspect=not defect.audience_only)


def test_an_issuer_signed_copy_of_the_genuine_claims_is_accepted(genuine: Genuine) -> None:
    """The control: re-signing unchanged claims gives a token the service accepts."""
    header, claims, _ = split(genuine.raw)
    resigned = _issuer_signed(genuine, header, claims)
    assert present(genuine, resigned)[0] == 200
    assert introspected(genuine, resigned)["active"] is True


def test_base64_helpers_round_trip() -> None:
    assert unb64(b64(b"\x00\xff")) == b"\x00\xff"
    assert base64.urlsafe_b64decode(b64json({"a": 1}) + "==") == b'{"a":1}'
