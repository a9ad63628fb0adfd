"""The SCIM schemas of this IAM: User (RFC 7643 §4.1), Agent, and the discovery documents.

Each schema publishes exactly the attributes the registry stores, so that what a client writes
is what it reads back and an attribute we would drop is refused instead (RFC 7643 §7).
Differences from the core User schema (RFC 7643 §4.1):

* ``id`` is the ``userName``, the login id; ``userName`` is therefore immutable. It is
  canonical (:mod:`iam_core.identifiers`): unique regardless of case, width or look-alike
  letters, so it is published with ``caseExact`` false.
* ``externalId`` (RFC 7643 §3.1), ``name`` (§4.1.1), every ``emails`` value with its type,
  primary flag and display, ``displayName`` and ``active`` are kept; roles keep their ``value``.
* ``password`` is write-only and never returned (RFC 7643 §4.1.1), and optional: a user
  created without one cannot log in with a password until one is set.

Agents are a resource type of their own, schema :data:`AGENT_SCHEMA` (this lab's extension of
SCIM, published at ``/Schemas``), endpoint ``/Agents``. ``owner`` is a reference to a User
(``value``, ``$ref``, ``display``), shaped like the enterprise ``manager`` of RFC 7643 §4.3.
``active`` is the writable state; ``status`` is its read-only mirror. :data:`PROVIDER` holds
what discovery publishes: the schemas, the resource types and the service provider
configuration (RFC 7643 §5-§7).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import scim2_models as scim
from pydantic import Field, model_validator
from scim2_models import (
    URN,
    CaseExact,
    Mutability,
    Reference,
    Required,
    Resource,
    Returned,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
AGENT_SCHEMA = "urn:agent-iam-lab:params:scim:schemas:core:2.0:Agent"
DEFAULT_PAGE_SIZE = 100
MAX_RESULTS = 200
# RFC 7517 §4 members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class Jwk(scim.ComplexAttribute):
    """A public JSON Web Key (RFC 7517 §4; RFC 7518 §6.2.1 EC, §6.3.1 RSA)."""

    kty: Annotated[str | None, Required.true, CaseExact.true] = None
    """The key type, "EC" or "RSA"."""

    kid: Annotated[str | None, CaseExact.true] = None
    """The key id the agent puts in its client assertions."""

    use: Annotated[str | None, CaseExact.true] = None
    """The intended use, "sig"."""

    alg: Annotated[str | None, CaseExact.true] = None
    """The algorithm, which must fit the key type (ES256 for P-256)."""

    crv: Annotated[str | None, CaseExact.true] = None
    """The curve of an EC key, "P-256"."""

    x: Annotated[str | None, CaseExact.true] = None
    """The x coordinate of an EC key, base64url."""

    y: Annotated[str | None, CaseExact.true] = None
    """The y coordinate of an EC key, base64url."""

    n: Annotated[str | None, CaseExact.true] = None
    """The modulus of an RSA key, base64url."""

    e: Annotated[str | None, CaseExact.true] = None
    """The exponent of an RSA key, base64url."""

    @model_validator(mode="before")
    @classmethod
    def _public_members_only(cls, data: Any) -> Any:
        # Checked before anything else so that the answer names the problem (a private key
        # sent to the IAM) instead of an "unknown attribute d".
        if isinstance(data, dict):
            private = sorted(PRIVATE_JWK_MEMBERS & set(data))
            if private:
                raise scim.InvalidValueException(
                    detail=f"jwks take public keys only; private members {private} refused"
                ).as_pydantic_error()
        return data


class AgentType(StrEnum):
    interactive = "interactive"
    background = "background"


class AgentStatus(StrEnum):
    active = "active"
    blocked = "blocked"


class Role(scim.ComplexAttribute):
    """A role (RFC 7643 §4.1.2): its ``value`` is what the registry keeps and policy reads."""

    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The role, a scope-token (RFC 6749 §3.3), e.g. guest or manager."""


class Owner(scim.ComplexAttribute):
    """The user accountable for an agent, shaped like ``manager`` (RFC 7643 §4.3)."""

    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The id of the owning User."""

    ref: Annotated[Reference["User"] | None, Required.true] = Field(  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the owning User; either of value and $ref is enough in a request."""

    display: Annotated[str | None, Mutability.read_only] = None
    """The owner's displayName."""

    @model_validator(mode="before")
    @classmethod
    def _either_value_or_ref(cls, data: Any) -> Any:
        # A client may name the owner by id alone (as earlier versions took it, a plain
        # string), or by $ref alone: the other half is derived, and checked to agree.
        if isinstance(data, str):
            data = {"value": data}
        if isinstance(data, dict):
            value, ref = data.get("value"), data.get("$ref")
            if isinstance(value, str) and value and not ref:
                data = {**data, "$ref": f"/Users/{value}"}
            elif isinstance(ref, str) and ref and not value:
                data = {**data, "value": ref.rstrip("/").rsplit("/", 1)[-1]}
        return data


class User(Resource[Any]):
    """User Account"""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[
        str | None, Required.true, Mutability.immutable, Uniqueness.server, CaseExact.false
    ] = None
    """The login id, which is also the resource's id; unique regardless of case and look-alikes."""

    name: scim.Name | None = None
    """The components of the user's real name (RFC 7643 §4.1.1)."""

    display_name: str | None = None
    """The name of the user, suitable for display."""

    active: bool | None = None
    """Whether the user may log in; false revokes every token naming the user."""

    password: Annotated[str | None, Mutability.write_only, Returned.never, CaseExact.true] = None
    """The user's cleartext password: optional, never returned; without one, no password login."""

    emails: list[scim.Email] | None = None
    """The user's email addresses."""

    roles: list[Role] | None = None
    """The user's roles, which decide the scopes the user may grant (e.g. guest, manager)."""


class Agent(Resource[Any]):
    """AI Agent"""

    __schema__ = URN(AGENT_SCHEMA)

    agent_id: Annotated[
        str | None, Required.true, Mutability.immutable, Uniqueness.global_, CaseExact.false
    ] = None
    """The agent id: its OAuth client id, token subject and actor; also the resource's id.
    Unique regardless of case and look-alike letters."""

    display_name: str | None = None
    """The name of the agent, suitable for display."""

    owner: Annotated[Owner | None, Required.true] = None
    """The user accountable for the agent: value (the user id), $ref and display."""

    agent_type: AgentType | None = None
    """Whether the agent acts for a present user (interactive) or on its own (background)."""

    status: Annotated[AgentStatus | None, Mutability.read_only] = None
    """The state as a word, mirroring active: active, or blocked."""

    active: bool | None = None
    """Whether the agent may obtain and use tokens; false blocks it and revokes every token
    naming it."""

    roles: list[Role] | None = None
    """The agent's roles."""

    delegable_scopes: Annotated[list[str] | None, CaseExact.true] = None
    """The scopes a user may delegate to the agent (on-behalf-of tokens)."""

    autonomous_scopes: Annotated[list[str] | None, CaseExact.true] = None
    """The scopes the agent may use on its own (agent tokens)."""

    jwks: list[Jwk] | None = None
    """The public keys the agent authenticates with (RFC 7523 private_key_jwt)."""


# -- discovery (RFC 7644 §4, RFC 7643 §5-§7) -------------------------------------------------
def _resource_type(model: type[Resource[Any]], description: str) -> scim.ResourceType:
    return scim.ResourceType.from_resource(model).model_copy(update={"description": description})


PROVIDER = scim.ScimProvider(
    models=[User, Agent],
    resource_types=[
        _resource_type(User, "User Account"),
        _resource_type(Agent, "AI agent: a first-class identity beside users and apps"),
    ],
    config=scim.ServiceProviderConfig(
        patch=scim.Patch(supported=True),
        bulk=scim.Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=scim.Filter(supported=True, max_results=MAX_RESULTS),
        change_password=scim.ChangePassword(supported=True),
        sort=scim.Sort(supported=True),
        etag=scim.ETag(supported=True),
        pagination=scim.Pagination(
            index=True,
            cursor=False,
            default_page_size=DEFAULT_PAGE_SIZE,
            max_page_size=MAX_RESULTS,
        ),
        authentication_schemes=[
            scim.AuthenticationScheme(
                type=scim.AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description=(
                    "An access token from this IAM (RFC 6750) whose audience is the issuer "
                    "and whose scope includes scim:admin"
                ),
                spec_uri=scim.Reference[scim.External]("https://www.rfc-editor.org/rfc/rfc6750"),
                primary=True,
            )
        ],
    ),
)
