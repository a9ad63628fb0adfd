"""SCIM 2.0 users and agents over HTTP (RFC 7643, RFC 7644), through an in-process transport."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from iam_core.iam import IAM
from iam_core.registry import SIMULATION_HASHER, Agent, App, User
from iam_core.scim import scim_router
from iam_core.store import Store
from iam_core.tokens import Token, TokenType

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
AGENT = "urn:agent-iam-lab:params:scim:schemas:core:2.0:Agent"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PASSWORD = "correct horse battery staple"
ADMIN = object()


@dataclass
class World:
    iam: IAM
    app: FastAPI
    admin_token: str

    def scim(
        self,
        method: str,
        path: str,
        *,
        token: object = ADMIN,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(headers or {})
        bearer = self.admin_token if token is ADMIN else token
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://iam.test") as c:
                return await c.request(method, f"/scim/v2{path}", headers=headers, **kwargs)

        return asyncio.run(send())

    def token(self, *, audience: str | None = None, scopes: frozenset[str] | None = None) -> str:
        token, _ = self.iam.minter.mint(
            TokenType.APP,
            sub="iam-admin",
            client_id="iam-admin",
            audience=audience or self.iam.issuer,
            scopes=frozenset({"scim:admin"}) if scopes is None else scopes,
        )
        return token

    def issued(self, token_type: TokenType, sub: str, act: dict[str, Any] | None = None) -> Token:
        _, token = self.iam.minter.mint(
            token_type,
            sub=sub,
            client_id="hotel-web",
            audience=f"{self.iam.issuer}/hotel/booking",
            scopes=frozenset({"booking:create"}),
            act=act,
        )
        self.iam.revocations.record_issued(token)
        return token


def make_world() -> World:
    iam = IAM(Store(":memory:"), hasher=SIMULATION_HASHER)
    iam.registry.add_app(
        App(
            id="iam-admin",
            name="IAM admin",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({"client_credentials"}),
            scopes=frozenset({"scim:admin"}),
        ),
        secret="s" * 43,
    )
    iam.registry.add_user(User("alice", "Alice", roles=("guest",)), PASSWORD)
    app = FastAPI()
    app.include_router(scim_router(iam), prefix="/scim/v2")
    world = World(iam, app, "")
    world.admin_token = world.token()
    return world


def public_jwk(kid: str = "k1") -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid}


def private_jwk() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return jwk


def new_user(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name, "password": PASSWORD, **attributes}


def new_agent(agent_id: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [AGENT], "agentId": agent_id, "owner": "alice", **attributes}


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def with_agent(world: World, agent_id: str = "booking-assistant", **fields: Any) -> None:
    world.iam.registry.add_agent(Agent(agent_id, agent_id, owner="alice", **fields))


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type


def ids(response: httpx.Response) -> list[str]:
    return [resource["id"] for resource in response.json().get("Resources", [])]


# -- users --------------------------------------------------------------------------------
def test_creating_a_user_answers_201_with_location_meta_and_no_password() -> None:
    """POST /Users stores the user and answers 201 with Location, ETag and meta (RFC 7644 §3.3)."""
    world = make_world()
    response = world.scim(
        "POST",
        "/Users",
        json=new_user("bob", displayName="Bob", emails=[{"value": "bob@example.com"}]),
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["id"] == "bob"
    assert body["userName"] == "bob"
    assert body["emails"][0]["value"] == "bob@example.com"
    assert "password" not in body
    assert response.headers["location"] == "http://iam.test/scim/v2/Users/bob"
    assert body["meta"]["location"] == response.headers["location"]
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["created"] == body["meta"]["lastModified"]
    assert response.headers["etag"] == body["meta"]["version"]
    assert world.iam.registry.check_password("bob", PASSWORD) is not None


def test_a_user_created_without_a_password_cannot_log_in_until_one_is_set() -> None:
    """``password`` is optional (RFC 7643 §4.1); no password matches until one is set."""
    world = make_world()
    response = world.scim("POST", "/Users", json={"schemas": [USER], "userName": "bob"})
    assert response.status_code == 201, response.text
    assert world.iam.registry.check_password("bob", "") is None
    assert world.iam.registry.check_password("bob", "!") is None
    op = {"op": "replace", "path": "password", "value": PASSWORD}
    assert world.scim("PATCH", "/Users/bob", json=patch(op)).status_code == 200
    assert world.iam.registry.check_password("bob", PASSWORD) is not None


def test_reading_a_user_returns_what_the_registry_holds() -> None:
    """GET /Users/{id} maps the registry's user onto the User schema (RFC 7644 §3.4.1)."""
    world = make_world()
    response = world.scim("GET", "/Users/alice")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [USER]
    assert body["displayName"] == "Alice"
    assert body["active"] is True
    assert body["roles"] == [{"value": "guest"}]


def test_an_unknown_user_is_a_scim_404() -> None:
    """A missing resource is a SCIM Error with status "404" (RFC 7644 §3.12)."""
    world = make_world()
    assert_scim_error(world.scim("GET", "/Users/nobody"), 404, None)
    assert_scim_error(world.scim("GET", "/Agents/nobody"), 404, None)
    assert_scim_error(world.scim("DELETE", "/Users/nobody"), 404, None)


def test_users_are_filtered_with_eq_on_user_name_id_display_name_and_active() -> None:
    """The filter parameter selects users (RFC 7644 §3.4.2.2), joined with and."""
    world = make_world()
    world.iam.registry.add_user(User("bob", "Bob", active=False), PASSWORD)
    world.iam.registry.add_user(User("carol", "Carol", roles=("front-desk",)), PASSWORD)
    assert ids(world.scim("GET", "/Users", params={"filter": 'userName eq "bob"'})) == ["bob"]
    assert ids(world.scim("GET", "/Users", params={"filter": 'id eq "carol"'})) == ["carol"]
    by_name = world.scim("GET", "/Users", params={"filter": 'displayName eq "Alice"'})
    assert ids(by_name) == ["alice"]
    inactive = world.scim("GET", "/Users", params={"filter": "active eq false"})
    assert ids(inactive) == ["bob"]
    both = world.scim(
        "GET", "/Users", params={"filter": 'active eq true and roles.value eq "front-desk"'}
    )
    assert ids(both) == ["carol"]
    assert both.json()["totalResults"] == 1


def test_users_are_paged_with_start_index_and_count() -> None:
    """startIndex is 1-based and count caps the page; totalResults counts all (§3.4.2.4)."""
    world = make_world()
    for name in ("u1", "u2", "u3", "u4"):
        world.iam.registry.add_user(User(name, name), PASSWORD)
    response = world.scim("GET", "/Users", params={"startIndex": "2", "count": "2"})
    body = response.json()
    assert body["totalResults"] == 5
    assert body["startIndex"] == 2
    assert body["itemsPerPage"] == 2
    assert ids(response) == ["u1", "u2"]
    last = world.scim("GET", "/Users", params={"startIndex": "5", "count": "10"})
    assert ids(last) == ["u4"]


def test_patching_a_user_inactive_disables_them_and_revokes_their_tokens() -> None:
    """PATCH active=false goes through set_user_active, which revokes every token naming them."""
    world = make_world()
    token = world.issued(TokenType.USER, "alice")
    response = world.scim(
        "PATCH", "/Users/alice", json=patch({"op": "replace", "path": "active", "value": False})
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    user = world.iam.registry.get_user("alice")
    assert user is not None
    assert user.active is False
    assert world.iam.revocations.reason_revoked(token.jti) is not None
    assert world.iam.inactive_reason(token) is not None


def test_patching_a_user_changes_display_name_roles_and_password() -> None:
    """PATCH add/replace/remove (RFC 7644 §3.5.2) reach the registry."""
    world = make_world()
    response = world.scim(
        "PATCH",
        "/Users/alice",
        json=patch(
            {"op": "replace", "path": "displayName", "value": "Alice Liddell"},
            {"op": "add", "path": "roles", "value": [{"value": "manager"}]},
            {"op": "remove", "path": 'roles[value eq "guest"]'},
            {"op": "replace", "path": "password", "value": "a brand new secret"},
        ),
    )
    assert response.status_code == 200, response.text
    user = world.iam.registry.get_user("alice")
    assert user is not None
    assert user.display_name == "Alice Liddell"
    assert user.roles == ("manager",)
    assert world.iam.registry.check_password("alice", "a brand new secret") is not None


def test_putting_a_user_replaces_it_and_keeps_the_user_name() -> None:
    """PUT replaces the attributes (RFC 7644 §3.5.1); an immutable userName cannot change."""
    world = make_world()
    replaced = world.scim(
        "PUT", "/Users/alice", json={"schemas": [USER], "userName": "alice", "active": False}
    )
    assert replaced.status_code == 200, replaced.text
    user = world.iam.registry.get_user("alice")
    assert user is not None
    assert user.active is False
    assert user.roles == ()
    renamed = world.scim("PUT", "/Users/alice", json={"schemas": [USER], "userName": "alicia"})
    assert_scim_error(renamed, 400, "mutability")


def test_deleting_a_user_who_owns_agents_is_refused_until_they_are_gone() -> None:
    """An agent always has an accountable owner: 409 first, then 204 and a revoked token."""
    world = make_world()
    with_agent(world)
    token = world.issued(TokenType.USER, "alice")
    assert_scim_error(world.scim("DELETE", "/Users/alice"), 409, None)
    assert world.scim("DELETE", "/Agents/booking-assistant").status_code == 204
    deleted = world.scim("DELETE", "/Users/alice")
    assert deleted.status_code == 204
    assert world.iam.registry.get_user("alice") is None
    assert world.iam.revocations.reason_revoked(token.jti) is not None


def test_a_duplicate_identity_is_409_uniqueness() -> None:
    """Users, agents and apps share one id space; a taken id is 409 uniqueness (§3.3)."""
    world = make_world()
    assert_scim_error(world.scim("POST", "/Users", json=new_user("alice")), 409, "uniqueness")
    assert_scim_error(world.scim("POST", "/Agents", json=new_agent("alice")), 409, "uniqueness")
    assert_scim_error(world.scim("POST", "/Users", json=new_user("iam-admin")), 409, "uniqueness")


# -- agents -------------------------------------------------------------------------------
def test_creating_an_agent_stores_its_scopes_keys_and_owner() -> None:
    """POST /Agents creates an agent identity under its own schema URN."""
    world = make_world()
    jwk = public_jwk()
    response = world.scim(
        "POST",
        "/Agents",
        json=new_agent(
            "booking-assistant",
            displayName="Booking assistant",
            agentType="interactive",
            delegableScopes=["booking:create", "payment:charge"],
            autonomousScopes=["availability:read"],
            roles=[{"value": "guest-facing"}],
            jwks=[jwk],
        ),
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "http://iam.test/scim/v2/Agents/booking-assistant"
    body = response.json()
    assert body["schemas"] == [AGENT]
    assert body["id"] == body["agentId"] == "booking-assistant"
    assert body["status"] == "active"
    assert body["active"] is True
    assert body["meta"]["resourceType"] == "Agent"
    assert body["jwks"] == [jwk]
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.owner == "alice"
    assert agent.delegable == {"booking:create", "payment:charge"}
    assert agent.autonomous == {"availability:read"}
    assert agent.verification_keys()[0].kid == "k1"


def test_an_agent_needs_an_owner_who_is_a_user() -> None:
    """An unknown owner is 400 invalidValue, and no agent is created."""
    world = make_world()
    response = world.scim("POST", "/Agents", json=new_agent("rogue", owner="nobody"))
    assert_scim_error(response, 400, "invalidValue")
    assert world.iam.registry.get_agent("rogue") is None


def test_a_private_jwk_is_refused_on_create_and_on_patch() -> None:
    """Agents register public keys only: a JWK with "d" is 400 invalidValue (RFC 7517 §4)."""
    world = make_world()
    keys = [private_jwk(), private_jwk()]
    created = world.scim("POST", "/Agents", json=new_agent("leaky", jwks=[keys[0]]))
    assert_scim_error(created, 400, "invalidValue")
    assert world.iam.registry.get_agent("leaky") is None
    with_agent(world)
    patched = world.scim(
        "PATCH",
        "/Agents/booking-assistant",
        json=patch({"op": "add", "path": "jwks", "value": [keys[1]]}),
    )
    assert_scim_error(patched, 400, "invalidValue")
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.jwks == ()
    audit = json.dumps([e.to_dict() for e in world.iam.audit.query()])
    for text in (created.text, patched.text, audit):
        assert all(key["d"] not in text for key in keys)


def test_agents_are_filtered_and_paged() -> None:
    """Agents filter on id, displayName, owner, status and agentType (RFC 7644 §3.4.2.2)."""
    world = make_world()
    world.iam.registry.add_user(User("carol", "Carol"), PASSWORD)
    with_agent(world, "a1", kind="background")
    with_agent(world, "a2", status="blocked")
    world.iam.registry.add_agent(Agent("a3", "Staff helper", owner="carol"))

    def found(expression: str) -> list[str]:
        return ids(world.scim("GET", "/Agents", params={"filter": expression}))

    assert found('id eq "a2"') == ["a2"]
    assert found('displayName eq "Staff helper"') == ["a3"]
    assert found('owner.value eq "alice"') == ["a1", "a2"]
    assert found('status eq "blocked"') == ["a2"]
    assert found('agentType eq "background"') == ["a1"]
    assert found('owner.value eq "alice" and status eq "active"') == ["a1"]
    page = world.scim("GET", "/Agents", params={"startIndex": "3", "count": "1"})
    assert page.json()["totalResults"] == 3
    assert ids(page) == ["a3"]


def test_patching_an_agent_inactive_blocks_it_and_revokes_its_obo_tokens() -> None:
    """PATCH active=false calls block_agent: the agent is blocked and OBO tokens naming it die."""
    world = make_world()
    with_agent(world)
    token = world.issued(TokenType.OBO, "alice", act={"sub": "booking-assistant"})
    assert world.iam.inactive_reason(token) is None
    response = world.scim(
        "PATCH",
        "/Agents/booking-assistant",
        json=patch({"op": "replace", "path": "active", "value": False}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "blocked"
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.status == "blocked"
    assert world.iam.revocations.reason_revoked(token.jti) is not None
    assert world.iam.inactive_reason(token) is not None


def test_patching_an_agent_active_again_unblocks_it() -> None:
    """active true calls unblock_agent; status, its read-only mirror, follows."""
    world = make_world()
    with_agent(world, status="blocked")
    response = world.scim(
        "PATCH",
        "/Agents/booking-assistant",
        json=patch({"op": "replace", "path": "active", "value": True}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.status == "active"
    unblocked = world.iam.audit.query(event="agent.unblocked")
    assert [(e.sub, e.object_id) for e in unblocked] == [("iam-admin", "booking-assistant")]


def test_status_is_read_only_so_active_alone_decides() -> None:
    """status mirrors active and cannot be written: 400 mutability, nothing written."""
    world = make_world()
    with_agent(world)
    response = world.scim(
        "PATCH",
        "/Agents/booking-assistant",
        json=patch({"op": "replace", "value": {"active": False, "status": "active"}}),
    )
    assert_scim_error(response, 400, "mutability")
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.status == "active"


def test_patching_agent_scopes_reaches_the_registry() -> None:
    """delegableScopes and autonomousScopes take add, replace and remove."""
    world = make_world()
    with_agent(world, delegable=frozenset({"booking:create"}))
    response = world.scim(
        "PATCH",
        "/Agents/booking-assistant",
        json=patch(
            {"op": "add", "path": "delegableScopes", "value": ["booking:read"]},
            {"op": "replace", "path": "autonomousScopes", "value": ["availability:read"]},
            {"op": "remove", "path": 'delegableScopes[value eq "booking:create"]'},
        ),
    )
    assert response.status_code == 200, response.text
    agent = world.iam.registry.get_agent("booking-assistant")
    assert agent is not None
    assert agent.delegable == {"booking:read"}
    assert agent.autonomous == {"availability:read"}


def test_putting_an_agent_cannot_change_its_id() -> None:
    """agentId is immutable (RFC 7643 §2.2): a PUT naming another id is 400 mutability."""
    world = make_world()
    with_agent(world)
    response = world.scim("PUT", "/Agents/booking-assistant", json=new_agent("evil-twin"))
    assert_scim_error(response, 400, "mutability")


def test_deleting_an_agent_revokes_its_tokens_then_removes_it() -> None:
    """DELETE blocks the agent first (revoking its tokens) and then deletes it (§3.6)."""
    world = make_world()
    with_agent(world)
    token = world.issued(TokenType.OBO, "alice", act={"sub": "booking-assistant"})
    response = world.scim("DELETE", "/Agents/booking-assistant")
    assert response.status_code == 204
    assert world.iam.registry.get_agent("booking-assistant") is None
    assert world.iam.revocations.reason_revoked(token.jti) is not None
    assert_scim_error(world.scim("GET", "/Agents/booking-assistant"), 404, None)


def test_a_stale_if_match_is_412_and_the_current_etag_passes() -> None:
    """Writes honour If-Match against meta.version (RFC 7644 §3.14)."""
    world = make_world()
    etag = world.scim("GET", "/Users/alice").headers["etag"]
    stale = world.scim("DELETE", "/Users/alice", headers={"If-Match": 'W/"stale"'})
    assert_scim_error(stale, 412, None)
    current = world.scim("DELETE", "/Users/alice", headers={"If-Match": etag})
    assert current.status_code == 204


# -- authorization ------------------------------------------------------------------------
def test_a_request_without_a_token_is_401_with_an_invalid_token_challenge() -> None:
    """No Bearer token: 401, a SCIM Error body and WWW-Authenticate (RFC 6750 §3)."""
    world = make_world()
    response = world.scim("GET", "/Users", token=None)
    assert_scim_error(response, 401, None)
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert_scim_error(world.scim("GET", "/Schemas", token=None), 401, None)


def test_a_token_for_another_audience_is_401() -> None:
    """A token for a hotel service is worthless here: the audience must be the issuer."""
    world = make_world()
    token = world.token(audience=f"{world.iam.issuer}/hotel/booking")
    response = world.scim("POST", "/Users", token=token, json=new_user("mallory"))
    assert_scim_error(response, 401, None)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert world.iam.registry.get_user("mallory") is None


def test_a_token_without_scim_admin_is_403_insufficient_scope() -> None:
    """The scim:admin scope is required for every route (RFC 6750 §3.1)."""
    world = make_world()
    token = world.token(scopes=frozenset({"audit:read"}))
    response = world.scim("DELETE", "/Users/alice", token=token)
    assert_scim_error(response, 403, None)
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="scim:admin"' in challenge
    assert world.iam.registry.get_user("alice") is not None


def test_refusals_are_audited_as_denied_with_the_caller() -> None:
    """401, 403 and 4xx answers each leave a denied audit entry."""
    world = make_world()
    world.scim("GET", "/Users", token=None)
    world.scim("GET", "/Users", token=world.token(scopes=frozenset({"audit:read"})))
    world.scim("GET", "/Users/nobody")
    denied = world.iam.audit.query(event="scim.user.refused", outcome="denied")
    assert [e.details["status"] for e in denied] == [401, 403, 404]
    assert [e.sub for e in denied] == [None, "iam-admin", "iam-admin"]
    assert denied[2].object_id == "nobody"


def test_changes_are_audited_with_the_caller_and_the_object() -> None:
    """Create, patch, put and delete each append an allowed entry naming caller and object."""
    world = make_world()
    world.scim("POST", "/Users", json=new_user("bob"))
    world.scim(
        "PATCH", "/Users/bob", json=patch({"op": "replace", "path": "displayName", "value": "B"})
    )
    world.scim("PUT", "/Users/bob", json={"schemas": [USER], "userName": "bob"})
    world.scim("DELETE", "/Users/bob")
    entries = [e for e in world.iam.audit.query(outcome="allowed") if e.event.startswith("scim.")]
    assert [e.event for e in entries] == [
        "scim.user.created",
        "scim.user.updated",
        "scim.user.replaced",
        "scim.user.deleted",
    ]
    assert {(e.sub, e.client_id, e.object_id) for e in entries} == {
        ("iam-admin", "iam-admin", "bob")
    }


def test_passwords_are_never_returned_and_never_audited() -> None:
    """password is write-only (RFC 7643 §4.1.1): absent from every response and audit entry."""
    world = make_world()
    secrets = ["first secret value", "second secret value", "third secret value"]
    responses = [
        world.scim("POST", "/Users", json={**new_user("bob"), "password": secrets[0]}),
        world.scim(
            "PATCH",
            "/Users/bob",
            json=patch({"op": "replace", "path": "password", "value": secrets[1]}),
        ),
        world.scim("PUT", "/Users/bob", json={**new_user("bob"), "password": secrets[2]}),
        world.scim("GET", "/Users/bob"),
        world.scim("GET", "/Users"),
        world.scim("GET", "/Users", params={"attributes": "userName,password"}),
        world.scim("POST", "/Users", json={**new_user("bob"), "password": secrets[0]}),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 200, 409]
    audit = json.dumps([e.to_dict() for e in world.iam.audit.query()])
    for text in [r.text for r in responses] + [audit]:
        assert '"password"' not in text
        assert all(secret not in text for secret in secrets)
    assert world.iam.registry.check_password("bob", secrets[2]) is not None


# -- malformed requests -------------------------------------------------------------------
def test_malformed_json_is_400_invalid_syntax() -> None:
    """A body that is not JSON is 400 invalidSyntax, never a 500 or a 422."""
    world = make_world()
    headers = {"Content-Type": "application/scim+json"}
    response = world.scim("POST", "/Users", content=b'{"schemas": [', headers=headers)
    assert_scim_error(response, 400, "invalidSyntax")
    not_object = world.scim("PATCH", "/Users/alice", content=b"[]", headers=headers)
    assert_scim_error(not_object, 400, "invalidSyntax")


def test_wrong_or_missing_schemas_are_400_invalid_syntax() -> None:
    """The body must name its schema (RFC 7643 §3); an Agent body is not a User."""
    world = make_world()
    missing = world.scim("POST", "/Users", json={"userName": "bob", "password": PASSWORD})
    assert_scim_error(missing, 400, "invalidSyntax")
    wrong = world.scim("POST", "/Users", json={**new_user("bob"), "schemas": [AGENT]})
    assert_scim_error(wrong, 400, "invalidSyntax")
    assert world.iam.registry.get_user("bob") is None


def test_plain_json_is_accepted_and_other_media_types_are_415() -> None:
    """application/json and application/scim+json bodies are both read (RFC 7644 §3.1)."""
    world = make_world()
    body = json.dumps(new_user("bob")).encode()
    plain = world.scim("POST", "/Users", content=body, headers={"Content-Type": "application/json"})
    assert plain.status_code == 201, plain.text
    text = world.scim("POST", "/Users", content=body, headers={"Content-Type": "text/plain"})
    assert_scim_error(text, 415, None)


def test_a_bad_filter_is_400_invalid_filter() -> None:
    """Syntax errors and unknown attributes in a filter are 400 invalidFilter (§3.4.2.2)."""
    world = make_world()
    for expression in ('userName eq "alice', "userName zz 1", 'nickName eq "x"', "(("):
        response = world.scim("GET", "/Users", params={"filter": expression})
        assert_scim_error(response, 400, "invalidFilter")
    unknown = world.scim("GET", "/Agents", params={"filter": 'userName eq "alice"'})
    assert_scim_error(unknown, 400, "invalidFilter")


def test_patching_an_unknown_or_read_only_attribute_is_refused() -> None:
    """PATCH paths are checked against the schema (RFC 7644 §3.5.2): invalidPath, mutability."""
    world = make_world()
    unknown = world.scim(
        "PATCH", "/Users/alice", json=patch({"op": "replace", "path": "shoeSize", "value": 9})
    )
    assert_scim_error(unknown, 400, "invalidPath")
    read_only = world.scim(
        "PATCH", "/Users/alice", json=patch({"op": "replace", "path": "id", "value": "eve"})
    )
    assert_scim_error(read_only, 400, "mutability")
    unknown_op = world.scim(
        "PATCH", "/Users/alice", json=patch({"op": "steal", "path": "active", "value": True})
    )
    assert_scim_error(unknown_op, 400, "invalidValue")


def test_unknown_endpoints_and_methods_answer_scim_errors() -> None:
    """Even a wrong URL answers a SCIM Error, not the framework's default body."""
    world = make_world()
    assert_scim_error(world.scim("GET", "/Groups"), 404, None)
    assert_scim_error(world.scim("DELETE", "/Users"), 405, None)


# -- discovery ----------------------------------------------------------------------------
def test_discovery_endpoints_describe_users_and_agents() -> None:
    """/Schemas, /ResourceTypes and /ServiceProviderConfig name the Agent schema (RFC 7644 §4)."""
    world = make_world()
    schemas = world.scim("GET", "/Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} == {USER, AGENT}
    agent_schema = world.scim("GET", f"/Schemas/{AGENT}").json()
    names = {attribute["name"] for attribute in agent_schema["attributes"]}
    assert {"agentId", "owner", "agentType", "status", "delegableScopes", "jwks"} <= names
    user_schema = world.scim("GET", f"/Schemas/{USER}").json()
    password = next(a for a in user_schema["attributes"] if a["name"] == "password")
    assert (password["mutability"], password["returned"]) == ("writeOnly", "never")
    types = world.scim("GET", "/ResourceTypes").json()["Resources"]
    assert {(t["name"], t["endpoint"], t["schema"]) for t in types} == {
        ("User", "/Users", USER),
        ("Agent", "/Agents", AGENT),
    }
    config = world.scim("GET", "/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert_scim_error(world.scim("GET", "/Schemas", params={"filter": "id pr"}), 403, None)


_KEYS = st.sampled_from(
    ["schemas", "Operations", "op", "path", "value", "userName", "agentId", "owner", "active"]
) | st.sampled_from(["status", "password", "emails", "roles", "jwks", "kty", "d", "meta", "id"])
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_SCALARS |= st.sampled_from([USER, AGENT, PATCH_OP, "replace", "add", "remove", "alice", "EC"])
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_KEYS | st.text(), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(body=_JSON)
def test_no_body_ever_gets_a_server_error(body: Any) -> None:
    """Whatever JSON arrives, the answer is a success or a SCIM Error, never a 5xx."""
    world = make_world()
    with_agent(world)
    for method, path in (
        ("POST", "/Agents"),
        ("PATCH", "/Users/alice"),
        ("PUT", "/Agents/booking-assistant"),
    ):
        response = world.scim(method, path, json=body)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_scim_error(response, response.status_code, response.json().get("scimType"))


def test_changing_a_users_roles_revokes_the_tokens_that_carry_the_old_ones() -> None:
    """A demoted user's live tokens (with the old roles claim) end at once; a rename does not."""
    world = make_world()
    kept = world.issued(TokenType.USER, "alice")
    rename = world.scim(
        "PATCH",
        "/Users/alice",
        json=patch({"op": "replace", "path": "displayName", "value": "A. Martin"}),
    )
    assert rename.status_code == 200
    assert world.iam.revocations.reason_revoked(kept.jti) is None
    response = world.scim(
        "PATCH",
        "/Users/alice",
        json=patch({"op": "add", "path": "roles", "value": [{"value": "manager"}]}),
    )
    assert response.status_code == 200, response.text
    assert world.iam.revocations.reason_revoked(kept.jti) == "roles changed"


def test_narrowing_an_agents_delegable_scopes_revokes_its_tokens() -> None:
    """Tokens granted under the old delegable scopes must not outlive the change."""
    world = make_world()
    with_agent(world, "a1", delegable=frozenset({"availability:read", "booking:create"}))
    token = world.issued(TokenType.OBO, "alice", act={"sub": "a1"})
    response = world.scim(
        "PATCH",
        "/Agents/a1",
        json=patch({"op": "replace", "path": "delegableScopes", "value": ["availability:read"]}),
    )
    assert response.status_code == 200, response.text
    assert world.iam.revocations.reason_revoked(token.jti) == "agent changed"
