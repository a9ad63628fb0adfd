"""The token endpoint's grants (RFC 6749 §4, §5): one method per grant type.

* ``client_credentials`` (RFC 6749 §4.4) — Agent tokens for agents (private_key_jwt),
  App tokens for apps (client_secret_basic).
* ``authorization_code`` (RFC 6749 §4.1.3, RFC 7636) — User tokens; with a code bound to a
  requested actor, OBO tokens redeemed with that actor's ``actor_token``
  (draft-oauth-ai-agents-on-behalf-of-user-02 §5).
* token exchange (RFC 8693 §2) — OBO tokens from a user or OBO ``subject_token`` and an
  agent ``actor_token``; a new actor nests ``act`` (§4.1) and only narrows.

Every issued or refused token is an audit entry naming the grant, the client, ``sub``, the
``act`` chain, the scope asked for and the scope granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow
from iam_core.client_auth import Client, ClientAuthenticator
from iam_core.dpop import DPoPProof
from iam_core.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    InvalidToken,
    OAuthError,
    TemporarilyUnavailable,
    TokenError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from iam_core.iam import IAM, Resource
from iam_core.policy import act_chain, format_scope, nest_act, parse_scope
from iam_core.registry import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
)
from iam_core.tokens import Token, TokenType, parse_compact

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)


@dataclass(frozen=True, slots=True)
class Issued:
    """A grant's result before encoding: the token and what the request asked for."""

    token: str
    claims: Token
    requested: frozenset[str]


class TokenEndpoint:
    def __init__(self, iam: IAM, flow: AuthorizationFlow, clients: ClientAuthenticator) -> None:
        self._iam = iam
        self._flow = flow
        self._clients = clients

    def handle(
        self,
        form: Mapping[str, str],
        authorization: str | None,
        dpop: DPoPProof | None = None,
    ) -> dict[str, Any]:
        """Run one token request; returns the RFC 6749 §5.1 response or raises OAuthError.

        With a verified DPoP proof the token is bound to its key (``cnf.jkt``, RFC 9449 §6).
        """
        grant = form.get("grant_type")
        client: Client | None = None
        # One transaction for the whole request: the assertion's jti, the issued token and
        # its audit entry (or the refusal's) are committed together, once.
        with self._iam.store.transaction():
            try:
                if not grant:
                    raise InvalidRequest("grant_type is required")
                if grant not in (
                    GRANT_CLIENT_CREDENTIALS,
                    GRANT_AUTHORIZATION_CODE,
                    GRANT_TOKEN_EXCHANGE,
                ):
                    raise UnsupportedGrantType(f"grant_type {grant[:80]!r} is not supported")
                client = self._clients.authenticate(form, authorization)
                quota = self._iam.token_quota
                if client.kind == "agent" and quota is not None:
                    count = quota.take(client.id)
                    if count is not None:
                        # Denial of wallet (ATTACKS.md #16): a looping agent is throttled.
                        raise TemporarilyUnavailable(
                            f"quota exceeded: {client.id} asked for {count} tokens within "
                            f"{quota.spec.window} s (limit {quota.spec.limit})"
                        )
                if grant not in client.grant_types:
                    raise UnauthorizedClient(f"client {client.id} may not use {grant}")
                if grant == GRANT_CLIENT_CREDENTIALS:
                    issued = self._client_credentials(client, form, dpop)
                elif grant == GRANT_AUTHORIZATION_CODE:
                    issued = self._authorization_code(client, form, dpop)
                else:
                    issued = self._token_exchange(client, form, dpop)
                return self._respond(grant, issued)
            except OAuthError as exc:
                self._refused(grant, client, form, exc)
                exc.audited = True
                refusal = exc
        raise refusal

    # -- client credentials --------------------------------------------------------------
    def _client_credentials(
        self, client: Client, form: Mapping[str, str], dpop: DPoPProof | None
    ) -> Issued:
        requested = _scope(form)
        if client.agent is not None:
            allowed, token_type = client.agent.autonomous, TokenType.AGENT
        else:
            assert client.app is not None
            allowed, token_type = client.app.scopes, TokenType.APP
        resource = self._iam.resource(form.get("resource"), requested or allowed)
        wanted = frozenset(requested or {s for s in allowed if resource.owns(s)})
        if client.agent is not None:
            # An agent on its own: only its autonomous scopes (DESIGN delegation rules).
            held = self._iam.policy.autonomous_scope(wanted, autonomous=allowed)
        else:
            held = wanted & allowed
        granted = frozenset(s for s in held if resource.owns(s))
        # An agent may hold a scope-less token for the IAM itself: its identity, to present
        # as actor_token (draft-oauth-ai-agents-on-behalf-of-user-02 §5, RFC 8693 §2.1).
        identity_only = token_type is TokenType.AGENT and resource.name == "iam" and not requested
        if not granted and not identity_only:
            raise InvalidScope(
                f"none of the requested scopes may be used by {client.id} at {resource.name}"
            )
        return self._mint(token_type, client.id, client.id, resource, granted, requested, dpop)

    # -- authorization code --------------------------------------------------------------
    def _authorization_code(
        self, client: Client, form: Mapping[str, str], dpop: DPoPProof | None
    ) -> Issued:
        code = self._flow.redeem(
            _required(form, "code"),
            client_id=client.id,
            redirect_uri=form.get("redirect_uri"),
            verifier=form.get("code_verifier"),
        )
        user = self._iam.registry.get_user(code.user_id)
        if user is None or not user.active:
            raise InvalidGrant("the user who authorized this code is no longer active")
        requested = _scope(form) or code.scopes
        resource = self._iam.resource(form.get("resource") or code.resource, requested)
        user_scopes = self._iam.policy.user_scopes(user.roles)
        act = None
        if code.requested_actor is None:
            if "actor_token" in form:
                raise InvalidRequest("actor_token given, but the code names no requested_actor")
            scopes = requested & code.scopes & user_scopes
            token_type = TokenType.USER
        else:
            actor = self._actor(form, expected=code.requested_actor)
            agent = self._iam.registry.get_agent(actor.sub)
            consent = self._iam.consents.get(user.id, client.id, actor.sub)
            if agent is None or consent is None:
                raise InvalidGrant(f"{user.id} has not consented to {actor.sub} for {client.id}")
            scopes = self._iam.policy.obo_scope(
                requested & code.scopes,
                user_roles=user.roles,
                agent_delegable=agent.delegable,
                consented=consent.scopes,
            )
            act, token_type = {"sub": actor.sub}, TokenType.OBO
        scopes = frozenset(s for s in scopes if resource.owns(s))
        if not scopes:
            raise InvalidScope(f"no authorized scope belongs to {resource.name}")
        issued = self._mint(
            token_type,
            user.id,
            client.id,
            resource,
            scopes,
            requested,
            dpop,
            act=act,
            extra=self._user_claims(user.roles, code.authorization_details),
        )
        self._flow.note_issued(code, issued.claims.jti)
        return issued

    # -- token exchange ------------------------------------------------------------------
    def _token_exchange(
        self, client: Client, form: Mapping[str, str], dpop: DPoPProof | None
    ) -> Issued:
        if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequest(f"subject_token_type must be one of {SUBJECT_TOKEN_TYPES}")
        if form.get("requested_token_type") not in (None, *SUBJECT_TOKEN_TYPES):
            raise InvalidRequest("only access tokens can be requested")
        if "actor_token" not in form:
            raise InvalidRequest("actor_token is required: this server only issues delegation")
        subject = self._verified(_required(form, "subject_token"), "subject_token", None)
        if subject.token_type not in (TokenType.USER, TokenType.OBO):
            raise InvalidGrant("subject_token must be a user or on-behalf-of token")
        bound = subject.claims.get("cnf")
        if isinstance(bound, Mapping) and (dpop is None or dpop.jkt != bound.get("jkt")):
            # RFC 9449 §6: a bound token is only usable with its key — at the token endpoint
            # too, or an exchange would launder it into a bearer token.
            raise InvalidGrant("subject_token is DPoP-bound: the request needs a proof by its key")
        actor = self._actor(form, expected=None)
        if actor.sub != client.id:
            raise InvalidGrant("actor_token must belong to the authenticated client")
        may_act = subject.claims.get("may_act")
        if isinstance(may_act, Mapping) and may_act.get("sub") != actor.sub:
            raise InvalidGrant("subject_token's may_act does not name this actor (RFC 8693, 4.4)")
        user = self._iam.registry.get_user(subject.sub)
        agent = self._iam.registry.get_agent(actor.sub)
        if user is None or not user.active or agent is None:
            raise InvalidGrant("the subject or actor is no longer active")
        requested = _scope(form)
        if form.get("audience"):
            return self._handoff(subject, actor.sub, form["audience"], requested)
        current = subject.actors[0] if subject.actors else None
        if subject.actors in ((), (actor.sub,)):
            # The same direct delegation (user → this agent), perhaps for another audience:
            # the live consent bounds it, not the subject token's scope.
            consent = self._iam.consents.get(user.id, subject.client_id, actor.sub)
            if consent is None:
                raise InvalidGrant(
                    f"{user.id} has not consented to {actor.sub} acting through {subject.client_id}"
                )
            wanted = requested or consent.scopes
            resource = self._iam.resource(form.get("resource"), wanted)
            scopes = self._iam.policy.obo_scope(
                wanted,
                user_roles=user.roles,
                agent_delegable=agent.delegable,
                consented=consent.scopes,
            )
            act = dict(subject.act) if subject.act else {"sub": actor.sub}
            details = consent.authorization_details
        elif current == actor.sub:
            # The current actor of a longer chain moves it to another audience: the chain
            # stays as it is and, like any hop, the scope only narrows.
            wanted = requested or subject.scopes
            resource = self._iam.resource(form.get("resource"), wanted)
            scopes = self._iam.policy.hop_scope(
                wanted, subject_scope=subject.scopes, actor_delegable=agent.delegable
            )
            act = dict(subject.act or {})
            details = tuple(subject.claims.get("authorization_details") or ())
        else:
            # A further hop: nest act, never widen (RFC 8693 §4.1; DESIGN delegation rules).
            if actor.sub in subject.actors:
                raise InvalidGrant(f"{actor.sub} is already in the delegation chain")
            act = nest_act(subject.act, actor.sub)
            if not self._iam.policy.depth_allowed(act):
                raise InvalidGrant(
                    f"delegation depth would exceed {self._iam.policy.max_delegation_depth}"
                )
            wanted = requested or subject.scopes
            resource = self._iam.resource(form.get("resource"), wanted)
            scopes = self._iam.policy.hop_scope(
                wanted, subject_scope=subject.scopes, actor_delegable=agent.delegable
            )
            details = tuple(subject.claims.get("authorization_details") or ())
        scopes = frozenset(s for s in scopes if resource.owns(s))
        if not scopes:
            raise InvalidScope(
                f"nothing of the requested scope may be delegated to {actor.sub} at {resource.name}"
            )
        return self._mint(
            TokenType.OBO,
            user.id,
            subject.client_id,
            resource,
            scopes,
            requested,
            dpop,
            act=act,
            extra=self._user_claims(user.roles, details),
        )

    def _handoff(
        self, subject: Token, actor: str, target_id: str, requested: frozenset[str]
    ) -> Issued:
        """A hand-off grant: the current actor passes part of its delegation to another agent.

        RFC 8693 §2.1 ``audience`` names the agent the work goes to; the grant is an OBO
        token whose audience is this token endpoint only (no service accepts it), whose
        ``may_act`` (§4.4) names that agent, and whose scope only narrows. It is not bound
        to the sender's DPoP key, so that the receiver can present it; the receiver's own
        exchange then nests ``act`` and binds the result to the receiver's key.
        """
        if not subject.actors or subject.actors[0] != actor:
            raise InvalidGrant("only the current actor of a delegation can hand it off")
        target = self._iam.registry.get_agent(target_id)
        if target is None or not target.active or target_id == actor:
            raise InvalidTarget(f"audience {target_id[:64]!r} is not another active agent")
        if target_id in subject.actors:
            raise InvalidGrant(f"{target_id} is already in the delegation chain")
        if not self._iam.policy.depth_allowed(nest_act(subject.act, target_id)):
            raise InvalidGrant(
                f"delegation depth would exceed {self._iam.policy.max_delegation_depth}"
            )
        scopes = self._iam.policy.hop_scope(
            requested or subject.scopes,
            subject_scope=subject.scopes,
            actor_delegable=target.delegable,
        )
        if not scopes:
            raise InvalidScope(f"nothing of the requested scope may be handed to {target_id}")
        user = self._iam.registry.get_user(subject.sub)
        assert user is not None  # checked active by the caller
        details = tuple(subject.claims.get("authorization_details") or ())
        return self._mint(
            TokenType.OBO,
            subject.sub,
            subject.client_id,
            self._iam.resources["iam"],
            scopes,
            requested,
            None,
            act=dict(subject.act or {}),
            extra={**self._user_claims(user.roles, details), "may_act": {"sub": target_id}},
        )

    # -- helpers -------------------------------------------------------------------------
    def _subject_of(self, raw: str | None) -> Token | None:
        """The subject token's verified claims, for the audit of a refusal; None if invalid."""
        if not raw:
            return None
        try:
            return self._iam.verifier.verify(raw, audience=None)
        except (TokenError, ValueError):
            return None

    def _verified(self, token: str, name: str, audience: str | None) -> Token:
        try:
            return self._iam.verify_active(token, audience=audience)
        except InvalidToken as exc:
            raise InvalidGrant(f"{name} is not valid: {exc.description}") from exc

    def _actor(self, form: Mapping[str, str], *, expected: str | None) -> Token:
        raw = form.get("actor_token")
        if not raw:
            raise InvalidGrant("actor_token is required for a code bound to requested_actor")
        if form.get("actor_token_type", ACCESS_TOKEN_TYPE) not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequest("actor_token_type must be an access token type")
        actor = self._verified(raw, "actor_token", self._iam.issuer)
        if actor.token_type is not TokenType.AGENT:
            raise InvalidGrant("actor_token must be an agent token")
        if expected is not None and actor.sub != expected:
            raise InvalidGrant(f"actor_token names {actor.sub}, the code was for {expected}")
        return actor

    def _user_claims(
        self, roles: tuple[str, ...], details: tuple[dict[str, Any], ...]
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"roles": list(roles)}
        if details:
            extra["authorization_details"] = list(details)
        return extra

    def _mint(
        self,
        token_type: TokenType,
        sub: str,
        client_id: str,
        resource: Resource,
        scopes: frozenset[str],
        requested: frozenset[str],
        dpop: DPoPProof | None,
        *,
        act: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Issued:
        if dpop is not None:
            extra = {**(extra or {}), "cnf": {"jkt": dpop.jkt}}
        token, claims = self._iam.minter.mint(
            token_type,
            sub=sub,
            client_id=client_id,
            audience=resource.uri,
            scopes=scopes,
            act=act,
            extra=extra,
        )
        return Issued(token, claims, requested)

    def _respond(self, grant: str, issued: Issued) -> dict[str, Any]:
        claims = issued.claims
        with self._iam.store.transaction():
            self._iam.revocations.record_issued(claims)
            self._iam.record(
                AuditEvent(
                    event="token.issued",
                    outcome="allowed",
                    reason=f"{claims.token_type.value} token issued",
                    sub=claims.sub,
                    act=claims.actors,
                    client_id=claims.client_id,
                    token_type=claims.token_type.value,
                    jti=claims.jti,
                    scope=format_scope(claims.scopes),
                    object_id=claims.audience,
                    details={
                        "grant_type": grant,
                        "scope_requested": format_scope(issued.requested),
                        "scope_granted": format_scope(claims.scopes),
                    },
                )
            )
        bound = "cnf" in claims.claims
        response: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "DPoP" if bound else "Bearer",
            "expires_in": claims.exp - claims.iat,
            "scope": format_scope(claims.scopes),
        }
        if grant == GRANT_TOKEN_EXCHANGE:
            response["issued_token_type"] = ACCESS_TOKEN_TYPE
        return response

    def _refused(
        self, grant: str | None, client: Client | None, form: Mapping[str, str], exc: OAuthError
    ) -> None:
        actors: tuple[str, ...] = ()
        # Unauthenticated (a blocked agent, say): the client the request claims to be.
        sub = client.id if client else _claimed_client(form)
        if grant == GRANT_AUTHORIZATION_CODE:
            # A code names whom it concerned: its user and requested actor, not the app.
            code = self._flow.code_subject(form["code"]) if form.get("code") else None
            sub, agent = code if code is not None else (None, None)
            actors = (agent,) if agent else ()
        elif "actor_token" in form and client is not None and client.kind == "agent":
            actors = act_chain({"sub": client.id})
            # A refused delegation names whom it was for: the subject token's user and its
            # chain with this agent in front (the trail of ATTACKS.md #5, #6, #7).
            subject = self._subject_of(form.get("subject_token"))
            if subject is not None:
                sub = subject.sub
                actors = (
                    subject.actors
                    if subject.actors[:1] == (client.id,)
                    else (
                        client.id,
                        *subject.actors,
                    )
                )
        self._iam.record(
            AuditEvent(
                event="token.refused",
                outcome="denied",
                reason=f"{exc.error}: {exc.description}",
                sub=sub,
                act=actors,
                client_id=client.id if client else _claimed_client(form),
                details={
                    "grant_type": (grant or "")[:80],
                    "scope_requested": (form.get("scope") or "")[:200],
                },
            )
        )


def _claimed_client(form: Mapping[str, str]) -> str | None:
    """The client a request claims to be: ``client_id``, else its assertion's unverified
    ``iss`` (RFC 7523 §3: the client's id), for the audit entry of a refusal only."""
    client_id = form.get("client_id")
    if not client_id and form.get("client_assertion"):
        try:
            claimed = parse_compact(form["client_assertion"]).claims.get("iss")
        except TokenError:
            claimed = None
        client_id = claimed if isinstance(claimed, str) else None
    return client_id[:64] if client_id else None


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def _scope(form: Mapping[str, str]) -> frozenset[str]:
    try:
        return parse_scope(form.get("scope"))
    except ValueError as exc:
        raise InvalidScope(str(exc)) from exc
