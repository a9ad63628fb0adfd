"""Small helpers for the hotel tests: service URLs, challenges, audit decisions, minted tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from agent_iam import token_flows
from hotel.world import HotelWorld
from iam_core.audit import AuditEntry
from iam_core.iam import IAM
from iam_core.tokens import TokenType
from scenarios.deployment import Deployment

BA = "booking-assistant"
SA = "staff-assistant"

_PARAM = re.compile(r'(\w+)="([^"]*)"')
# RFC 6750 §3: error_description (and every other challenge value) is %x20-21 / %x23-5B / %x5D-7E.
_CHALLENGE = re.compile(
    r'(?:Bearer|DPoP) \w+="[\x20\x21\x23-\x5b\x5d-\x7e]*"(?:, \w+="[\x20\x21\x23-\x5b\x5d-\x7e]*")*'
)


def iam_of(dep: Deployment) -> IAM:
    assert dep.iam is not None, "an in-process deployment is needed"
    return dep.iam


def world(dep: Deployment) -> HotelWorld:
    assert dep.hotel is not None, "an in-process deployment is needed"
    return dep.hotel.world


async def alice_obo(
    dep: Deployment,
    scope: str,
    service: str,
    authorization_details: list[dict[str, Any]] | None = None,
) -> str:
    """alice's OBO token for booking-assistant, through the web app."""
    response = await token_flows.obo_token(
        dep, "alice", BA, "hotel-web", scope, service, authorization_details
    )
    return str(response["access_token"])


async def staff_obo(dep: Deployment, user: str, scope: str, service: str) -> str:
    """A staff user's OBO token for staff-assistant, through the staff console."""
    response = await token_flows.obo_token(dep, user, SA, "staff-console", scope, service)
    return str(response["access_token"])


def url(dep: Deployment, service: str, path: str) -> str:
    return f"{dep.resource(service)}{path}"


def bearer(token: str | Mapping[str, Any]) -> dict[str, str]:
    raw = token if isinstance(token, str) else str(token["access_token"])
    return {"Authorization": f"Bearer {raw}"}


def challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The ``WWW-Authenticate`` scheme and its parameters (RFC 6750 §3)."""
    header = response.headers["www-authenticate"]
    scheme, _, rest = header.partition(" ")
    return scheme, dict(_PARAM.findall(rest))


def assert_clean_challenge(response: httpx.Response) -> None:
    """The challenge is one RFC 6750 §3 header, whatever text the request carried."""
    assert response.headers.get_list("www-authenticate") != []
    (header,) = response.headers.get_list("www-authenticate")
    assert _CHALLENGE.fullmatch(header), header
    assert "set-cookie" not in response.headers


def decisions(dep: Deployment, since_seq: int = 0) -> list[AuditEntry]:
    return iam_of(dep).audit.query(event="access.decision", since_seq=since_seq)


def last_decision(dep: Deployment) -> AuditEntry:
    entries = decisions(dep)
    assert entries, "no access decision was audited"
    return entries[-1]


def audit_head(dep: Deployment) -> int:
    """The seq of the newest audit entry: pass it as ``since_seq`` to see only what follows."""
    return len(iam_of(dep).audit)


def mint(
    dep: Deployment,
    kind: TokenType,
    *,
    sub: str,
    service: str,
    scopes: str,
    client_id: str | None = None,
    act: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A token signed by the issuer's real key and recorded as issued, with exactly these claims.

    Used where the token endpoint would (rightly) refuse to issue such a token, so that the
    only thing standing between it and the route is the guard rule under test.
    """
    iam = iam_of(dep)
    raw, token = iam.minter.mint(
        kind,
        sub=sub,
        client_id=client_id or sub,
        audience=dep.resource(service),
        scopes=frozenset(scopes.split()),
        act=act,
        extra=extra,
    )
    iam.revocations.record_issued(token)
    return raw


def assert_refused(
    dep: Deployment,
    response: httpx.Response,
    *,
    status: int,
    error: str | None,
    reason: str,
    service: str,
    description: str | None = None,
    scope: str | None = None,
    sub: str | None = None,
    act: tuple[str, ...] = (),
    object_id: str | None = None,
    scheme: str = "Bearer",
) -> AuditEntry:
    """The refusal on the wire (status, body, ``WWW-Authenticate``) and in the audit log.

    ``reason`` is the audit entry's text; ``description`` the challenge's
    ``error_description`` when it differs (an unverifiable token is audited with an
    "invalid token: " prefix).
    """
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == (error or "invalid_request")
    assert_clean_challenge(response)
    got_scheme, params = challenge(response)
    assert got_scheme == scheme
    if error is None:
        assert params == {"realm": "hotel"}
    else:
        expected = (description or reason).replace('"', "'")
        assert params["error"] == error
        assert params["error_description"] == expected
        assert params.get("scope") == scope
    entry = last_decision(dep)
    request = response.request
    assert entry.outcome == "denied"
    assert entry.reason == reason
    assert (entry.sub, entry.act) == (sub, act)
    assert (entry.service, entry.method, entry.path) == (service, request.method, request.url.path)
    assert entry.object_id == object_id
    return entry


def assert_allowed(
    dep: Deployment,
    response: httpx.Response,
    *,
    service: str,
    sub: str,
    act: tuple[str, ...] = (),
    reason: str | None = None,
    object_id: str | None = None,
) -> AuditEntry:
    """A 2xx answer and its ``allowed`` decision in the audit log."""
    assert 200 <= response.status_code < 300, response.text
    entry = next(
        e
        for e in reversed(decisions(dep))
        if e.service == service and e.path == response.request.url.path
    )
    assert entry.outcome == "allowed"
    assert (entry.sub, entry.act, entry.object_id) == (sub, act, object_id)
    if reason is not None:
        assert entry.reason == reason
    return entry
