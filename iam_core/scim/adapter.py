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

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import scim2_models as scim
from scim2_models import Resource

from iam_core import registry as reg
from iam_core.errors import ScimError
from iam_core.iam import IAM
from iam_core.scim import checks
from iam_core.scim.schemas import Agent, AgentStatus, AgentType, Jwk, Owner, Role, User

MAX_EMAILS = 16


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
        user_id = checks.new_identifier(self.iam.registry, resource.user_name, "userName")
        record = _user_record(resource, user_id, active=resource.active is not False)
        password = None if resource.password is None else checks.password(resource.password)
        try:
            self.iam.registry.add_user(record, password)
        except reg.DuplicateIdentity as exc:
            raise ScimError(409, str(exc), "uniqueness") from exc
        return Change(record.id, {"active": record.active, "roles": list(record.roles)})

    def update(self, before: User, after: User, *, by: str | None) -> Change:
        current = self._record(before)
        active = current.active if after.active is None else after.active
        record = _user_record(after, current.id, active=active)
        password = None if after.password is None else checks.password(after.password)
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
            # An agent must always have an accountable owner (docs/design.md, agents as identities).
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
        return [self._resource(agent) for agent in self.iam.registry.agents()]

    def get(self, resource_id: str) -> Agent | None:
        agent = self.iam.registry.get_agent(resource_id)
        return self._resource(agent) if agent else None

    def _resource(self, agent: reg.Agent) -> Agent:
        owner = self.iam.registry.get_user(agent.owner)
        return agent_resource(agent, owner.display_name or None if owner else None)

    def create(self, resource: Agent, *, by: str | None) -> Change:
        status = _written_status(resource) or AgentStatus.active
        agent_id = checks.new_identifier(self.iam.registry, resource.agent_id, "agentId")
        record = self._agent_record(resource, agent_id, status)
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
        record = self._agent_record(after, current.id, status)
        record = replace(record, created_at=current.created_at)
        self.iam.registry.save_agent(replace(record, status=current.status))
        details: dict[str, Any] = {"changed": _changed(current, record), **_agent_facts(record)}
        if record.status != current.status:
            if record.status == AgentStatus.blocked:
                details["tokens_revoked"] = self.iam.block_agent(current.id, by=by)
            else:
                self.iam.unblock_agent(current.id, by=by)
        elif (record.delegable, record.autonomous, record.jwks, set(record.roles)) != (
            current.delegable,
            current.autonomous,
            current.jwks,
            set(current.roles),
        ):
            # Tokens granted under the old scopes, keys or roles (tokens carry the acting
            # agent's roles, docs/design.md §6) must not outlive the change.
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

    def _agent_record(self, resource: Agent, agent_id: str, status: AgentStatus) -> reg.Agent:
        owner = checks.owner_id(resource.owner)
        if self.iam.registry.get_user(owner) is None:
            raise ScimError(400, f"owner {owner[:128]!r} is not a user", "invalidValue")
        return reg.Agent(
            id=agent_id,
            display_name=resource.display_name or "",
            owner=owner,
            kind=(resource.agent_type or AgentType.interactive).value,
            status=status.value,
            roles=checks.tokens(resource.roles, "roles"),
            jwks=tuple(checks.public_jwk(jwk) for jwk in resource.jwks or ()),
            delegable=frozenset(checks.tokens(resource.delegable_scopes, "delegableScopes")),
            autonomous=frozenset(checks.tokens(resource.autonomous_scopes, "autonomousScopes")),
            external_id=resource.external_id,
        )


# -- registry → SCIM (reads must never fail on data the registry already holds) -------------
def user_resource(user: reg.User) -> User:
    # model_construct: an address stored before (e.g. at a reserved test domain) stays readable.
    stored = user.emails
    if not stored and user.email:
        stored = ({"value": user.email, "primary": True},)
    emails = [_email(email) for email in stored]
    return User(
        id=user.id,
        external_id=user.external_id,
        user_name=user.id,
        name=scim.Name.model_validate(user.name) if user.name else None,
        display_name=user.display_name or None,
        active=user.active,
        emails=emails or None,
        roles=[Role(value=role) for role in user.roles] or None,
        meta=scim.Meta(resource_type="User", created=datetime.fromtimestamp(user.created_at, UTC)),
    )


def _email(stored: dict[str, Any]) -> scim.Email:
    try:
        return scim.Email.model_validate(stored)
    except ValueError:  # stored by an earlier version under looser rules: still readable
        return scim.Email.model_construct(**{k: v for k, v in stored.items() if k != "type"})


def agent_resource(agent: reg.Agent, owner_display: str | None = None) -> Agent:
    """The agent as SCIM shows it; ``owner.$ref`` is made absolute by the service."""
    jwks = [
        Jwk.model_construct(**{k: v for k, v in jwk.items() if k in Jwk.model_fields})
        for jwk in agent.jwks
    ]
    return Agent(
        id=agent.id,
        external_id=agent.external_id,
        agent_id=agent.id,
        display_name=agent.display_name or None,
        owner=Owner(value=agent.owner, ref=None, display=owner_display),
        agent_type=AgentType(agent.kind),
        status=AgentStatus(agent.status),
        active=agent.active,
        roles=[Role(value=role) for role in agent.roles] or None,
        delegable_scopes=sorted(agent.delegable) or None,
        autonomous_scopes=sorted(agent.autonomous) or None,
        jwks=jwks or None,
        meta=scim.Meta(
            resource_type="Agent", created=datetime.fromtimestamp(agent.created_at, UTC)
        ),
    )


# -- SCIM → registry (every check runs before the first write) -------------------------------
def _user_record(resource: User, user_id: str, *, active: bool) -> reg.User:
    emails = tuple(
        email.model_dump(mode="json", exclude_none=True, by_alias=True)
        for email in resource.emails or ()
        if email.value
    )
    if len(emails) > MAX_EMAILS:
        raise ScimError(400, f"at most {MAX_EMAILS} email addresses", "invalidValue")
    if sum(bool(email.get("primary")) for email in emails) > 1:
        raise ScimError(400, "one email address at most is primary (RFC 7643 §2.4)", "invalidValue")
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    name = (
        resource.name.model_dump(mode="json", exclude_none=True, by_alias=True)
        if resource.name
        else None
    )
    return reg.User(
        id=user_id,
        # Empty when none is given or it is removed (RFC 7644 §3.5.2.2): pages show the id.
        display_name=resource.display_name or "",
        roles=checks.tokens(resource.roles, "roles"),
        email=str(primary["value"]) if primary else None,
        active=active,
        external_id=resource.external_id,
        name=name or None,
        emails=emails,
    )


def _written_status(resource: Agent) -> AgentStatus | None:
    """The status a write asks for through ``active``, None when it names none.

    ``status`` is read-only (its value in a PUT is the stored one, copied by RFC 7644 §3.5.1
    rules), so only ``active`` decides.
    """
    if resource.active is None:
        return None
    return AgentStatus.active if resource.active else AgentStatus.blocked


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
