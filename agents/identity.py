"""An agent's identity component: it gets, caches and presents the agent's tokens.

Tokens live here and nowhere else: tools ask for request headers, never for a token, and
what a transcript may show of a token is a :class:`TokenUse` (type, subject, chain, audience,
scope, ``jti``) — never the token. Every token is DPoP-bound to this runtime's key
(RFC 9449); every service request carries a fresh proof with the token's hash.

Principals, i.e. on whose authority a request is made:
* the agent itself (``None``): an Agent token, client_credentials with private_key_jwt
  (RFC 7523 §2.2) — only the agent's autonomous scopes;
* a user who delegated (``accept_delegation``): the code is redeemed with the agent's actor
  token (draft-oauth-ai-agents-on-behalf-of-user-02) for one service, then moved to the
  other services by RFC 8693 exchange, bounded by the user's live consent;
* a hand-off from another agent (``accept_handoff``): the hand-off grant is exchanged at
  once for a token that nests ``act`` (RFC 8693 §4.1) and is bound to this runtime's key.
There are no refresh tokens: an expired delegation needs the user again (RFC 9700 §2.2.2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from agents.clock import Clock
from agents.dpop import DPoPKey
from agents.oauth import (
    AgentCredentials,
    AppCredentials,
    OAuthClient,
    OAuthClientError,
    decode_unverified,
)

REFRESH_MARGIN = 20  # seconds before expiry when a cached token is replaced


class NoAuthority(Exception):
    """The identity holds nothing that could authorise the request (and asks for nothing)."""


@dataclass(frozen=True, slots=True)
class TokenUse:
    """What may be shown about a token: its shape, never its value."""

    token_type: str
    sub: str
    act: tuple[str, ...]
    client_id: str
    audience: str
    scope: str
    jti: str
    bound: bool

    @classmethod
    def of(cls, token: str) -> TokenUse:
        claims = decode_unverified(token)
        return cls(
            token_type=_token_type(claims),
            sub=str(claims.get("sub")),
            act=_chain(claims.get("act")),
            client_id=str(claims.get("client_id")),
            audience=str(claims.get("aud")),
            scope=str(claims.get("scope", "")),
            jti=str(claims.get("jti")),
            bound="cnf" in claims,
        )

    def describe(self) -> str:
        chain = "".join(f" act={a}" for a in self.act)
        return f"{self.token_type} token sub={self.sub}{chain} scope='{self.scope}'"


@dataclass
class _Held:
    token: str
    expires: float
    use: TokenUse


@dataclass
class _Delegation:
    user: str
    tokens: dict[str, _Held] = field(default_factory=dict)  # service -> token
    # Approval-bound tokens (OpenID CIBA), by auth_req_id: each is for one action, once.
    approvals: dict[str, _Held] = field(default_factory=dict)


class AgentIdentity:
    def __init__(
        self,
        oauth: OAuthClient,
        credentials: AgentCredentials,
        resource_of: Callable[[str], str],
        *,
        clock: Clock | None = None,
    ) -> None:
        """``clock``: when cached tokens expire and what the DPoP proofs say; by default
        the OAuth client's, so assertions, proofs and the cache agree on the time."""
        self.oauth = oauth
        self.credentials = credentials
        self.agent_id = credentials.agent_id
        self._clock = clock or oauth.clock
        self.dpop = DPoPKey(clock=self._clock)
        self._resource_of = resource_of
        self._own: dict[str, _Held] = {}  # service ("iam" for the actor token) -> token
        self._delegations: dict[str, _Delegation] = {}
        self.acquired: list[dict[str, Any]] = []  # token acquisitions, for the transcript
        self.seconds = 0.0  # time spent getting tokens
        # The task token the front door handed in with the current request: the agent's own
        # tokens for services are asked within it and end with it (docs/design.md "Tasks").
        self.task: str | None = None

    def reset_state(self) -> None:
        """Forget every token held and every task's delegation (a reused stack's next run)."""
        self._own.clear()
        self._delegations.clear()
        self.acquired = []
        self.seconds = 0.0
        self.task = None

    def begin_task(self, task: str | None) -> None:
        """A new request, within ``task`` (None: none was opened). Own tokens got within an
        earlier task are dropped — they ended with it; the identity token for the IAM (the
        actor token, no authority at any service) is kept."""
        if task != self.task:
            self._own = {service: held for service, held in self._own.items() if service == "iam"}
        self.task = task

    @property
    def clock(self) -> Clock:
        return self._clock

    def resource_of(self, service: str) -> str:  # its RFC 8707 resource URI
        return self._resource_of(service)

    # -- delegations ----------------------------------------------------------------------
    async def accept_delegation(
        self,
        app: AppCredentials,
        code: str,
        verifier: str,
        *,
        redirect_uri: str,
        service: str,
    ) -> TokenUse:
        """Redeem a user's authorization code with this agent's actor token, for ``service``."""
        actor = await self._actor_token()  # timed on its own when fetched
        started = time.perf_counter()
        try:
            response = await self.oauth.redeem_code(
                app,
                code,
                verifier,
                redirect_uri=redirect_uri,
                actor_token=actor,
                resource=self._resource_of(service),
                dpop=self.dpop,
                task=self.task,  # the delegation ends with the task, whoever holds it
            )
            held = self._hold(response, "authorization_code")
            self._delegations.setdefault(held.use.sub, _Delegation(held.use.sub)).tokens[
                service
            ] = held
            return held.use
        finally:
            self.seconds += time.perf_counter() - started

    async def accept_handoff(self, grant: str, *, service: str) -> TokenUse:
        """Exchange a hand-off grant naming this agent (``may_act``) for its own token."""
        response = await self._exchange(grant, service=service)
        held = self._hold(response, "token_exchange (hand-off)")
        principal = self.principal_key(held.use)
        self._delegations.setdefault(principal, _Delegation(held.use.sub)).tokens[service] = held
        return held.use

    async def handoff_grant(self, principal: str, to_agent: str, scope: str) -> tuple[str, str]:
        """A grant for ``to_agent`` to act in this delegation for ``scope`` (never widened).

        Returns the grant and its ``jti``; the grant goes to the other agent's identity
        component beside a signed message, never into a message or a model's context.
        """
        service = scope.split(":", 1)[0]
        held = await self._delegated(principal, service)
        response = await self._exchange(held.token, scope=scope, audience=to_agent)
        use = TokenUse.of(str(response["access_token"]))
        self._note("token_exchange (hand-off grant to " + to_agent + ")", use)
        return str(response["access_token"]), use.jti

    def principal_key(self, use: TokenUse) -> str:
        """How a principal is named: the user, and the chain of agents before this one."""
        before = [a for a in use.act if a != self.agent_id]
        return "/".join([use.sub, *reversed(before)])

    async def end_task(self, principal: str) -> int:
        """The task is over: revoke its delegated tokens (RFC 7009) and drop them.

        Task-scoped authority (docs/attacks.md #21): a token kept or stolen during the task is
        worthless after it. Returns how many tokens were revoked.
        """
        delegation = self._delegations.pop(principal, None)
        if delegation is None:
            return 0
        started = time.perf_counter()
        try:
            for held in [*delegation.tokens.values(), *delegation.approvals.values()]:
                await self.oauth.revoke(held.token, as_agent=self.credentials)
        finally:
            self.seconds += time.perf_counter() - started
        return len(delegation.tokens) + len(delegation.approvals)

    def has_delegation(self, principal: str) -> bool:
        return principal in self._delegations

    async def request_scope(self, principal: str, service: str, scope: str) -> TokenUse:
        """Ask for a specific ``scope`` at ``service`` within a delegation (RFC 8693); the
        IAM grants at most what the user consented to."""
        held = await self._delegated(principal, service)
        response = await self._exchange(held.token, service=service, scope=scope)
        held = self._hold(response, "token_exchange")
        self._delegations[principal].tokens[service] = held
        return held.use

    async def report(self, event: str, reason: str, sender: str | None = None) -> bool:
        """Tell the IAM's audit log about a security event this agent saw (a rejected
        message); signed by this agent's own DPoP-bound token. False if it could not."""
        url = f"{self._resource_of('iam')}/audit/report"
        try:
            headers, _ = await self.headers(None, "iam", "POST", url)
        except OAuthClientError:
            return False
        body = {"event": event, "reason": reason, "from": sender or ""}
        response = await self.oauth.http.post(url, json=body, headers=headers)
        if self.nonce_retry(url, response):
            headers, _ = await self.headers(None, "iam", "POST", url)
            response = await self.oauth.http.post(url, json=body, headers=headers)
        return response.status_code == 204

    def exfiltrate(self, principal: str, service: str) -> tuple[str, DPoPKey] | None:
        """What an attacker who has compromised this runtime's memory copies: a held token
        and the DPoP key. For attack scenarios only; nothing in the runtime calls it."""
        delegation = self._delegations.get(principal)
        held = delegation.tokens.get(service) if delegation else None
        return (held.token, self.dpop) if held else None

    # -- approvals (OpenID CIBA; the polling is agents/approval.py) ------------------------
    def hold_approval(self, principal: str, auth_req_id: str, response: dict[str, Any]) -> TokenUse:
        """Keep the token a person's approval yielded, for the one action it names."""
        if (delegation := self._delegations.get(principal)) is None:
            raise NoAuthority(f"{principal} has not delegated anything to {self.agent_id}")
        delegation.approvals[auth_req_id] = self._hold(response, "ciba (approved)")
        return delegation.approvals[auth_req_id].use

    def approval_headers(
        self, principal: str, auth_req_id: str, method: str, url: str
    ) -> dict[str, str]:
        """Headers presenting the approval-bound token (RFC 9449 §7.1); kept until the task
        ends like its other tokens — the service makes it single-use (it records the jti)."""
        delegation = self._delegations.get(principal)
        held = delegation.approvals.get(auth_req_id) if delegation else None
        if held is None:
            raise NoAuthority(f"no approval {auth_req_id[:8]}… is held for {principal}")
        proof = self.dpop.proof(method, url, held.token)
        return {"Authorization": f"DPoP {held.token}", "DPoP": proof}

    def approvals_held(self, principal: str) -> list[str]:
        """Each held approval's ``auth_req_id`` (for attack scenarios; never reused here)."""
        return list(d.approvals) if (d := self._delegations.get(principal)) else []

    # -- presenting tokens ----------------------------------------------------------------
    async def headers(
        self, principal: str | None, service: str, method: str, url: str
    ) -> tuple[dict[str, str], TokenUse]:
        """Authorization and DPoP headers for one request (RFC 9449 §7.1)."""
        held = (
            await self._own_token(service)
            if principal is None
            else await self._delegated(principal, service)
        )
        proof = self.dpop.proof(method, url, held.token)
        return {"Authorization": f"DPoP {held.token}", "DPoP": proof}, held.use

    def nonce_retry(self, url: str, response: httpx.Response) -> bool:
        """Keep the server's ``DPoP-Nonce``; True when it answered ``use_dpop_nonce`` and the
        request should be sent once more with fresh :meth:`headers` (RFC 9449 §9)."""
        return self.dpop.observe(url, response)

    async def _delegated(self, principal: str, service: str) -> _Held:
        delegation = self._delegations.get(principal)
        if delegation is None:
            raise NoAuthority(f"{principal} has not delegated anything to {self.agent_id}")
        held = delegation.tokens.get(service)
        if held is not None and held.expires - REFRESH_MARGIN > self._clock.now():
            return held
        subject = next(
            (
                h
                for h in delegation.tokens.values()
                if h.expires - REFRESH_MARGIN > self._clock.now()
            ),
            None,
        )
        if subject is None:
            raise NoAuthority(f"the delegation from {principal} expired: ask the user again")
        response = await self._exchange(subject.token, service=service)
        held = self._hold(response, "token_exchange")
        delegation.tokens[service] = held
        return held

    async def _exchange(
        self,
        subject_token: str,
        *,
        service: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
    ) -> dict[str, Any]:
        """One RFC 8693 exchange by this agent (its actor token, its DPoP key), timed."""
        actor = await self._actor_token()  # timed on its own when fetched
        started = time.perf_counter()
        try:
            return await self.oauth.exchange(
                self.credentials,
                subject_token=subject_token,
                actor_token=actor,
                scope=scope,
                resource=self._resource_of(service) if service else None,
                audience=audience,
                dpop=self.dpop,
            )
        finally:
            self.seconds += time.perf_counter() - started

    async def _own_token(self, service: str) -> _Held:
        held = self._own.get(service)
        if held is not None and held.expires - REFRESH_MARGIN > self._clock.now():
            return held
        started = time.perf_counter()
        try:
            response = await self.oauth.agent_token(
                self.credentials,
                resource=self._resource_of(service),
                dpop=self.dpop,
                task=self.task if service != "iam" else None,
            )
        finally:
            self.seconds += time.perf_counter() - started
        held = self._hold(response, "client_credentials")
        self._own[service] = held
        return held

    async def _actor_token(self) -> str:
        return (await self._own_token("iam")).token

    def _hold(self, response: dict[str, Any], grant: str) -> _Held:
        token = str(response["access_token"])
        use = TokenUse.of(token)
        self._note(grant, use)
        return _Held(token, self._clock.now() + float(response.get("expires_in", 0)), use)

    def _note(self, grant: str, use: TokenUse) -> None:
        self.acquired.append({"grant": grant, "token": use.describe(), "audience": use.audience})


class Presenter(Protocol):
    """What tools need of any identity (agent IAM, shared key, user token, service
    account): request headers for a principal at a service, and the time spent."""

    agent_id: str
    acquired: list[dict[str, Any]]
    seconds: float

    async def headers(
        self, principal: str | None, service: str, method: str, url: str
    ) -> tuple[dict[str, str], TokenUse]: ...

    def nonce_retry(self, url: str, response: httpx.Response) -> bool: ...

    async def end_task(self, principal: str) -> int: ...


def _token_type(claims: dict[str, Any]) -> str:
    if "act" in claims:
        return "obo"
    return {"AGENT": "agent", "APPLICATION": "app", "APPLICATION_USER": "user"}.get(
        str(claims.get("aut")), "unknown"
    )


def _chain(act: Any) -> tuple[str, ...]:
    chain: list[str] = []
    while isinstance(act, dict) and "sub" in act:
        chain.append(str(act["sub"]))
        act = act.get("act")
    return tuple(chain)
