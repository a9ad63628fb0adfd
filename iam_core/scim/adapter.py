"""The SCIM resources over the registry: one backend per resource type, and the mapping.

:mod:`iam_core.scim.schemas` defines what a client sees; this module maps it to
:class:`iam_core.registry.User` and :class:`iam_core.registry.Agent` and back. Reads never
fail on data the registry already holds; writes check everything before the first write.

An ``active`` or ``status`` left out of a write keeps the current state: RFC 7644 §3.5.1 lets
the provider choose the value of an unassigned attribute, and an omission must never block,
or unblock, an identity.

Status changes go through the IAM's lifecycle actions, which revoke every token naming the
identity and audit it; the backends never write a status to the registry themselves.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import scim2_models as scim
from scim2_models import Resource

from iam_core import registry as reg
from iam_core.errors import ScimError
from iam_core.iam import IAM
from iam_core.keys import verification_key_from_jwk
from iam_core.scim.schemas import Agent, AgentStatus, AgentType, Jwk, User

PASSWORD_LENGTHS = (8, 256)
# Login and agent ids travel in tokens (sub, act) and audit entries: keep them plain.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
# Roles and scopes are stored space-separated: RFC 6749 §3.3 scope-token characters only.
_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")


R = TypeVar("R", bound=Resource[Any])


@dataclass(frozen=True, slots=True)
class Change:
    """What a write did, for the audit entry: the object and safe facts about it."""

    object_id: str
    details: dict[str, Any] = field(default_factory=dict)


class ResourceBackend(ABC, Generic[R]):
    """One resource type over the registry; the router speaks RFC 7644 on top of it."""

    noun: str
    resource_type: str
    endpoint: str
    model: type[R]
    patch_op: type[scim.PatchOp[R]]
    search_request: type[scim.SearchRequest[R]]
    response_parameters: type[scim.ResponseParameters[R]]
    list_response: type[scim.ListResponse[R]]

    def __init__(self, iam: IAM) -> None:
        self.iam = iam

    @abstractmethod
    def resources(self) -> list[R]:
        """Every resource, in id order, ``meta`` holding resourceType and created."""

    @abstractmethod
    def get(self, resource_id: str) -> R | None:
        """One resource, or None."""

    @abstractmethod
    def create(self, resource: R, *, by: str | None) -> Change:
        """Store a validated creation request (RFC 7644 §3.3)."""

    def patch_target(self, resource: R) -> R:
        """The copy a PATCH writes on (RFC 7644 §3.5.2); ``update`` reads it back."""
        return resource.model_copy(deep=True)

    @abstractmethod
    def update(self, before: R, after: R, *, by: str | None) -> Change:
        """Write ``after`` (a PUT body, or a patched copy) over ``before``."""

    @abstractmethod
    def delete(self, resource: R, *, by: str | None) -> Change:
        """Revoke the identity's tokens, then remove it (RFC 7644 §3.6)."""


class UserBackend(ResourceBackend[User]):
    """``/Users`` (RFC 7643 §4.1) over :class:`iam_core.registry.User`."""

    noun, resource_type, endpoint = "user", "User", "Users"
    model = User
    patch_op = scim.PatchOp[User]
    search_request = scim.SearchRequest[User]
    response_parameters = scim.ResponseParameters[User]
    list_response = scim.ListResponse[User]

    def resources(self) -> list[User]:
        return [user_resource(user) for user in self.iam.registry.users()]

    def get(self, resource_id: str) -> User | None:
        user = self.iam.registry.get_user(resource_id)
        return user_resource(user) if user else None

    def create(self, resource: User, *, by: str | None) -> Change:
        if resource.password is None:
            raise ScimError(400, "password is required to create a user", "invalidValue")
        record = _user_record(resource, active=resource.active is not False)
        try:
            self.iam.registry.add_user(record, _password(resource.password))
        except reg.DuplicateIdentity as exc:
            raise ScimError(409, str(exc), "uniqueness") from exc
        return Change(record.id, {"active": record.active, "roles": list(record.roles)})

    def update(self, before: User, after: User, *, by: str | None) -> Change:
        current = self._record(before)
        active = current.active if after.active is None else after.active
        record = _user_record(after, active=active)
        password = None if after.password is None else _password(after.password)
        record = replace(record, created_at=current.created_at)
        self.iam.registry.save_user(replace(record, active=current.active))
        details: dict[str, Any] = {"changed": _changed(current, record)}
        if password is not None:
            self.iam.registry.set_password(current.id, password)
            details["password_changed"] = True
        if record.active != current.active:
            details["active"] = record.active
            details["tokens_revoked"] = self.iam.set_user_active(current.id, record.active, by=by)
        elif set(record.roles) != set(current.roles) or password is not None:
            # Live tokens carry the old roles (or were got with the old password): end them.
            why = "roles changed" if set(record.roles) != set(current.roles) else "password changed"
            details["tokens_revoked"] = len(self.iam.revocations.revoke_naming(current.id, why))
        return Change(current.id, details)

    def delete(self, resource: User, *, by: str | None) -> Change:
        current = self._record(resource)
        owned = sorted(a.id for a in self.iam.registry.agents() if a.owner == current.id)
        if owned:
            # An agent must always have an accountable owner (DESIGN.md, agents as identities).
            raise ScimError(409, f"{current.id} owns agents {owned}: reassign or delete them first")
        revoked = self.iam.set_user_active(current.id, False, by=by)
        self.iam.registry.delete_user(current.id)
        return Change(current.id, {"tokens_revoked": revoked})

    def _record(self, resource: User) -> reg.User:
        user = self.iam.registry.get_user(str(resource.id))
        if user is None:
            raise ScimError(404, f"user {resource.id} not found")
        return user


class AgentBackend(ResourceBackend[Agent]):
    """``/Agents`` over :class:`iam_core.registry.Agent`."""

    noun, resource_type, endpoint = "agent", "Agent", "Agents"
    model = Agent
    patch_op = scim.PatchOp[Agent]
    search_request = scim.SearchRequest[Agent]
    response_parameters = scim.ResponseParameters[Agent]
    list_response = scim.ListResponse[Agent]

    def resources(self) -> list[Agent]:
        return [agent_resource(agent) for agent in self.iam.registry.agents()]

    def get(self, resource_id: str) -> Agent | None:
        agent = self.iam.registry.get_agent(resource_id)
        return agent_resource(agent) if agent else None

    def create(self, resource: Agent, *, by: str | None) -> Change:
        status = _written_status(resource) or AgentStatus.active
        record = self._agent_record(resource, status)
        try:
            self.iam.registry.add_agent(record)
        except reg.DuplicateIdentity as exc:
            raise ScimError(409, str(exc), "uniqueness") from exc
        return Change(record.id, _agent_facts(record))

    def patch_target(self, resource: Agent) -> Agent:
        # Cleared so that after the PATCH they hold only what its operations wrote: the
        # untouched mirror of a changed attribute would otherwise read as a contradiction.
        return resource.model_copy(update={"active": None, "status": None}, deep=True)

    def update(self, before: Agent, after: Agent, *, by: str | None) -> Change:
        current = self._record(before)
        status = _written_status(after) or AgentStatus(current.status)
        record = self._agent_record(after, status)
        record = replace(record, created_at=current.created_at)
        self.iam.registry.save_agent(replace(record, status=current.status))
        details: dict[str, Any] = {"changed": _changed(current, record), **_agent_facts(record)}
        if record.status != current.status:
            if record.status == AgentStatus.blocked:
                details["tokens_revoked"] = self.iam.block_agent(current.id, by=by)
            else:
                self.iam.unblock_agent(current.id, by=by)
        elif (record.delegable, record.autonomous, record.jwks) != (
            current.delegable,
            current.autonomous,
            current.jwks,
        ):
            # Tokens granted under the old scopes or keys must not outlive the change.
            revoked = self.iam.revocations.revoke_naming(current.id, "agent changed")
            details["tokens_revoked"] = len(revoked)
        return Change(current.id, details)

    def delete(self, resource: Agent, *, by: str | None) -> Change:
        current = self._record(resource)
        # Block first: that revokes every token naming the agent, which deleting alone won't.
        revoked = self.iam.block_agent(current.id, by=by, reason="agent deleted")
        self.iam.registry.delete_agent(current.id)
        return Change(current.id, {"tokens_revoked": revoked})

    def _record(self, resource: Agent) -> reg.Agent:
        agent = self.iam.registry.get_agent(str(resource.id))
        if agent is None:
            raise ScimError(404, f"agent {resource.id} not found")
        return agent

    def _agent_record(self, resource: Agent, status: AgentStatus) -> reg.Agent:
        _refuse_external_id(resource)
        agent_id = _identifier(resource.agent_id, "agentId")
        owner = resource.owner or ""
        if self.iam.registry.get_user(owner) is None:
            raise ScimError(400, f"owner {owner[:128]!r} is not a user", "invalidValue")
        return reg.Agent(
            id=agent_id,
            display_name=resource.display_name or agent_id,
            owner=owner,
            kind=(resource.agent_type or AgentType.interactive).value,
            status=status.value,
            roles=_tokens(resource.roles, "roles"),
            jwks=tuple(_public_jwk(jwk) for jwk in resource.jwks or ()),
            delegable=frozenset(_tokens(resource.delegable_scopes, "delegableScopes")),
            autonomous=frozenset(_tokens(resource.autonomous_scopes, "autonomousScopes")),
        )


# -- registry → SCIM (reads must never fail on data the registry already holds) -------------
def user_resource(user: reg.User) -> User:
    # model_construct: an address stored before (e.g. at a reserved test domain) stays readable.
    emails = [scim.Email.model_construct(value=user.email, primary=True)] if user.email else None
    return User(
        id=user.id,
        user_name=user.id,
        display_name=user.display_name,
        active=user.active,
        emails=emails,
        roles=[scim.Role(value=role) for role in user.roles] or None,
        meta=scim.Meta(resource_type="User", created=datetime.fromtimestamp(user.created_at, UTC)),
    )


def agent_resource(agent: reg.Agent) -> Agent:
    jwks = [
        Jwk.model_construct(**{k: v for k, v in jwk.items() if k in Jwk.model_fields})
        for jwk in agent.jwks
    ]
    return Agent(
        id=agent.id,
        agent_id=agent.id,
        display_name=agent.display_name,
        owner=agent.owner,
        agent_type=AgentType(agent.kind),
        status=AgentStatus(agent.status),
        active=agent.active,
        roles=[scim.Role(value=role) for role in agent.roles] or None,
        delegable_scopes=sorted(agent.delegable) or None,
        autonomous_scopes=sorted(agent.autonomous) or None,
        jwks=jwks or None,
        meta=scim.Meta(
            resource_type="Agent", created=datetime.fromtimestamp(agent.created_at, UTC)
        ),
    )


# -- SCIM → registry (every check runs before the first write) -------------------------------
def _user_record(resource: User, *, active: bool) -> reg.User:
    _refuse_external_id(resource)
    user_id = _identifier(resource.user_name, "userName")
    emails = [email.value for email in resource.emails or () if email.value]
    if len(emails) > 1:
        raise ScimError(400, "one email address is kept per user", "invalidValue")
    return reg.User(
        id=user_id,
        display_name=resource.display_name or user_id,
        roles=_tokens(resource.roles, "roles"),
        email=str(emails[0]) if emails else None,
        active=active,
    )


def _written_status(resource: Agent) -> AgentStatus | None:
    """The status a write asks for, None when it names none; ``active`` and ``status`` agree."""
    from_active = None
    if resource.active is not None:
        from_active = AgentStatus.active if resource.active else AgentStatus.blocked
    if from_active and resource.status and from_active != resource.status:
        raise ScimError(400, "active and status disagree", "invalidValue")
    return resource.status or from_active


def _refuse_external_id(resource: Resource[Any]) -> None:
    if resource.external_id is not None:
        raise ScimError(400, "externalId is not stored by this service provider", "invalidValue")


def _identifier(value: str | None, attribute: str) -> str:
    if not value or not _IDENTIFIER.match(value):
        raise ScimError(
            400, f"{attribute} must be 1-128 letters, digits, '.', '_', '@' or '-'", "invalidValue"
        )
    return value


def _tokens(values: list[scim.Role] | list[str] | None, attribute: str) -> tuple[str, ...]:
    tokens: set[str] = set()
    for value in values or ():
        token = value.value if isinstance(value, scim.Role) else value
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise ScimError(
                400, f"each {attribute} value must be a scope-token (RFC 6749 §3.3)", "invalidValue"
            )
        tokens.add(token)
    return tuple(sorted(tokens))


def _public_jwk(jwk: Jwk) -> dict[str, Any]:
    data = {k: v for k, v in jwk.model_dump(exclude_none=True).items() if k != "schemas"}
    try:
        verification_key_from_jwk(data)
    except Exception as exc:  # PyJWT and cryptography raise several unrelated types
        raise ScimError(400, f"unusable JWK: {str(exc)[:200]}", "invalidValue") from exc
    return data


def _password(password: str) -> str:
    low, high = PASSWORD_LENGTHS
    if not low <= len(password) <= high:
        raise ScimError(400, f"password must be {low} to {high} characters", "invalidValue")
    return password


def _changed(before: reg.User | reg.Agent, after: reg.User | reg.Agent) -> list[str]:
    """The registry fields a write changed; values stay out of the audit log."""
    return sorted(
        f.name
        for f in fields(before)
        if f.name != "created_at" and getattr(before, f.name) != getattr(after, f.name)
    )


def _agent_facts(agent: reg.Agent) -> dict[str, Any]:
    return {
        "owner": agent.owner,
        "agent_type": agent.kind,
        "status": agent.status,
        "delegable_scopes": sorted(agent.delegable),
        "autonomous_scopes": sorted(agent.autonomous),
        "jwk_kids": [str(jwk.get("kid", "")) for jwk in agent.jwks],
    }
