"""Identities of agents deployed with ordinary OAuth, to compare agent IAM against.

Three ways many deployments give an agent authority today (issue 14, docs/design.md):

* :class:`SharedKeyIdentity` — one API key shared by every call, held by the tools (never
  in the prompt), and the user named in ``X-User``, taken from the app's session.
* :class:`UserTokenIdentity` — the app runs code + PKCE for the user, asks for the user's
  full scopes at each service, and hands the user's own access tokens to the agent. The
  services see the user: no agent identity, no ``act``, bearer tokens, no caps.
* :class:`ServiceAccountIdentity` — the agent is an OAuth client (``client_credentials``,
  a client secret) holding the scopes of every task it may do, and names in ``X-User``
  the user it acts for; the services trust the name.

Like :class:`agents.identity.AgentIdentity` they keep tokens out of the transcript: tools
ask for headers; a :class:`TokenUse` is all a transcript shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from agents.identity import NoAuthority, TokenUse
from agents.oauth import AgentCredentials, AppCredentials, OAuthClient, OAuthClientError

SERVICES = ("availability", "booking", "payment", "concierge")
# The IAM's answer when a user may hold none of the scopes asked for (iam_core consent).
NOTHING_GRANTABLE = "nothing grantable was requested"


class SharedKeyIdentity:
    """The baseline: one shared API key for every call, the user named in ``X-User``.

    What many agent deployments do today: no token per agent or per user, nothing to revoke,
    and the service trusts whichever user the agent names.
    """

    def __init__(self, agent_id: str, credentials: AgentCredentials, api_key: str) -> None:
        self.agent_id = agent_id
        self.credentials = credentials
        self.api_key = api_key
        self.acquired: list[dict[str, Any]] = []
        self.seconds = 0.0

    def reset_state(self) -> None:
        self.acquired = []
        self.seconds = 0.0

    async def headers(
        self, principal: str | None, service: str, method: str, url: str
    ) -> tuple[dict[str, str], TokenUse]:
        user = (principal or self.agent_id).split("/", 1)[0]
        use = TokenUse("api-key", user, (), "shared", service, "*", "-", False)
        return {"Authorization": f"Bearer {self.api_key}", "X-User": user}, use

    def nonce_retry(self, url: str, response: httpx.Response) -> bool:
        return False  # no DPoP: nothing to retry

    async def end_task(self, principal: str) -> int:
        return 0  # a shared key cannot be revoked per task


class UserTokenIdentity:
    """The user's own access tokens, one per service (RFC 8707), handed to the agent."""

    def __init__(
        self,
        agent_id: str,
        oauth: OAuthClient,
        app: AppCredentials,
        redirect_uri: str,
        resource_of: Callable[[str], str],
        scopes_of: Callable[[str], str],
    ) -> None:
        self.agent_id = agent_id
        self.oauth = oauth
        self.app = app
        self.redirect_uri = redirect_uri
        self._resource_of = resource_of
        self._scopes_of = scopes_of
        self._tokens: dict[tuple[str, str], str] = {}
        self.acquired: list[dict[str, Any]] = []
        self.seconds = 0.0

    def reset_state(self) -> None:
        self._tokens.clear()
        self.acquired = []
        self.seconds = 0.0

    async def login(self, user: str, password: str, approve: bool = True) -> None:
        """The user logs in at the app, which asks for everything the user may do."""
        started = time.perf_counter()
        try:
            for service in SERVICES:
                scope = self._scopes_of(service)
                if not scope or (user, service) in self._tokens:
                    continue
                resource = self._resource_of(service)
                try:
                    code, verifier = await self.oauth.authorize(
                        self.app,
                        user=user,
                        password=password,
                        scope=scope,
                        redirect_uri=self.redirect_uri,
                        resource=resource,
                        approve=approve,
                    )
                except OAuthClientError as exc:
                    if exc.description != NOTHING_GRANTABLE:
                        raise
                    # The user holds nothing at this service (a front-desk user at payment):
                    # the app takes the next service's tokens, as a real app's login would.
                    self.acquired.append(
                        {"kind": "authorization", "outcome": "refused", "reason": exc.description}
                    )
                    continue
                response = await self.oauth.redeem_code(
                    self.app, code, verifier, redirect_uri=self.redirect_uri, resource=resource
                )
                token = str(response["access_token"])
                self._tokens[(user, service)] = token
                use = TokenUse.of(token)
                self.acquired.append(
                    {"grant": "authorization_code (user's token)", "token": use.describe()}
                )
        finally:
            self.seconds += time.perf_counter() - started

    async def headers(
        self, principal: str | None, service: str, method: str, url: str
    ) -> tuple[dict[str, str], TokenUse]:
        user = (principal or "").split("/", 1)[0]
        token = self._tokens.get((user, service))
        if token is None:
            raise NoAuthority(f"no token of {user or 'any user'} for {service}")
        return {"Authorization": f"Bearer {token}"}, TokenUse.of(token)

    def forward(self, other: UserTokenIdentity, principal: str) -> None:
        """A hand-off in this deployment: the user's bearer tokens go along with the task
        (they are the only authority there is, and nothing can narrow them)."""
        user = principal.split("/", 1)[0]
        for (holder, service), token in self._tokens.items():
            if holder == user:
                other._tokens[(holder, service)] = token

    def exfiltrate(self, principal: str, service: str) -> tuple[str, None] | None:
        """What an attacker inside the runtime copies: the user's bearer token."""
        token = self._tokens.get((principal.split("/", 1)[0], service))
        return (token, None) if token else None

    def nonce_retry(self, url: str, response: httpx.Response) -> bool:
        return False  # bearer tokens: no DPoP proof, no nonce to retry with

    async def end_task(self, principal: str) -> int:
        return 0  # the user's token is the user's: it lives until it expires


class ServiceAccountIdentity:
    """The agent as an OAuth client; the user it acts for is named in ``X-User``."""

    def __init__(
        self,
        agent_id: str,
        oauth: OAuthClient,
        client: AppCredentials,
        resource_of: Callable[[str], str],
    ) -> None:
        self.agent_id = agent_id
        self.oauth = oauth
        self.client = client
        self._resource_of = resource_of
        self._tokens: dict[str, tuple[str, float]] = {}
        self.acquired: list[dict[str, Any]] = []
        self.seconds = 0.0

    def reset_state(self) -> None:
        self._tokens.clear()
        self.acquired = []
        self.seconds = 0.0

    async def token(self, service: str) -> str:
        held = self._tokens.get(service)
        if held is not None and held[1] > time.time() + 20:
            return held[0]
        started = time.perf_counter()
        try:
            response = await self.oauth.app_token(self.client, resource=self._resource_of(service))
        finally:
            self.seconds += time.perf_counter() - started
        token = str(response["access_token"])
        self._tokens[service] = (token, time.time() + float(response.get("expires_in", 0)))
        self.acquired.append(
            {
                "grant": "client_credentials (service account)",
                "token": TokenUse.of(token).describe(),
            }
        )
        return token

    async def headers(
        self, principal: str | None, service: str, method: str, url: str
    ) -> tuple[dict[str, str], TokenUse]:
        token = await self.token(service)
        user = (principal or "").split("/", 1)[0]
        headers = {"Authorization": f"Bearer {token}"}
        if user:
            headers["X-User"] = user
        use = TokenUse.of(token)
        return headers, TokenUse(
            "app", user or use.sub, (), use.client_id, use.audience, use.scope, use.jti, False
        )

    def exfiltrate(self, principal: str, service: str) -> tuple[str, None] | None:
        held = self._tokens.get(service)
        return (held[0], None) if held else None

    def nonce_retry(self, url: str, response: httpx.Response) -> bool:
        return False  # bearer tokens: no DPoP proof, no nonce to retry with

    async def end_task(self, principal: str) -> int:
        return 0  # one token for all users: nothing belongs to this task alone
