"""An OAuth client for agent runtimes and apps, speaking to the IAM over HTTP.

It performs the real flows: client_credentials with private_key_jwt (RFC 7523 §2.2) or
client_secret_basic (RFC 6749 §2.3.1); the authorization code flow with PKCE (RFC 7636),
driving the login and consent pages as a browser would, optionally with
``requested_actor`` (draft-oauth-ai-agents-on-behalf-of-user-02 §4); code redemption with
an ``actor_token``; RFC 8693 token exchange; introspection and revocation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from agents.clock import WALL_CLOCK, Clock
from agents.dpop import DPoPKey
from agents.json_limits import jws_parts

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SESSION_COOKIE = "iam_session"
_CSRF_FIELD = re.compile(r"name=csrf value='([0-9a-f]{64})'")
_CSRF_META = re.compile(r"<meta name=csrf-token content='([0-9a-f]{64})'>")


def _origin(url: str) -> str:
    """The Origin header a browser sends with a form posted from a page at ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OAuthClientError(Exception):
    """The server refused a request; ``error`` is its OAuth error code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    agent_id: str
    private_key: ec.EllipticCurvePrivateKey
    kid: str


@dataclass(frozen=True, slots=True)
class AppCredentials:
    client_id: str
    secret: str | None = None  # None for a public client


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims of a JWT, for display only: never a basis for a decision."""
    return jws_parts(token)[1]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


class OAuthClient:
    def __init__(self, http: httpx.AsyncClient, issuer: str, *, clock: Clock = WALL_CLOCK) -> None:
        self.http = http
        self.clock = clock  # stamps client assertions
        self.issuer = issuer.rstrip("/")
        self.token_endpoint = f"{self.issuer}/token"

    # -- client authentication -----------------------------------------------------------
    def client_assertion(self, agent: AgentCredentials, lifetime: int = 60) -> str:
        """An RFC 7523 §2.2 assertion: iss = sub = client_id, aud = token endpoint, one jti."""
        now = int(self.clock.now())
        claims = {
            "iss": agent.agent_id,
            "sub": agent.agent_id,
            "aud": self.token_endpoint,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, agent.private_key, algorithm="ES256", headers={"kid": agent.kid})

    def _agent_auth(self, agent: AgentCredentials) -> dict[str, str]:
        return {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(agent),
        }

    @staticmethod
    def _basic(app: AppCredentials) -> dict[str, str]:
        if app.secret is None:
            return {}
        raw = f"{app.client_id}:{app.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    async def _post(
        self,
        path: str,
        form: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
        dpop: DPoPKey | None = None,
    ) -> httpx.Response:
        url = f"{self.issuer}{path}"
        all_headers = dict(headers or {})
        data = {k: v for k, v in form.items() if v is not None}
        for _ in range(2):
            if dpop is not None:
                all_headers["DPoP"] = dpop.proof("POST", url)
            response = await self.http.post(url, data=data, headers=all_headers)
            # RFC 9449 §8.1: keep the server's nonce; on use_dpop_nonce retry once with it.
            # (The server asks before it authenticates the client: the assertion is unspent.)
            if dpop is None or not dpop.observe(url, response):
                break
        if response.status_code >= 400:
            try:
                body = response.json()
            except json.JSONDecodeError:
                body = {"error": "http_error", "error_description": response.text[:200]}
            raise OAuthClientError(
                response.status_code, str(body.get("error")), str(body.get("error_description"))
            )
        return response

    # -- grants --------------------------------------------------------------------------
    async def agent_token(
        self,
        agent: AgentCredentials,
        *,
        resource: str | None = None,
        scope: str | None = None,
        dpop: DPoPKey | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """The agent's own token (``client_credentials``); for a service, within ``task``
        (the task token its front door opened, docs/design.md "Tasks")."""
        form = {"grant_type": "client_credentials", **self._agent_auth(agent)}
        form.update(_optional(resource=resource, scope=scope, task_token=task))
        return dict((await self._post("/token", form, dpop=dpop)).json())

    async def app_token(
        self,
        app: AppCredentials,
        *,
        resource: str | None = None,
        scope: str | None = None,
        requested_actor: str | None = None,
    ) -> dict[str, Any]:
        """An app's own token; with ``scope=tasks:open`` and ``requested_actor``, a task
        token for that agent (a front door's, docs/design.md "Tasks")."""
        form = {
            "grant_type": "client_credentials",
            **_optional(resource=resource, scope=scope, requested_actor=requested_actor),
        }
        return dict((await self._post("/token", form, self._basic(app))).json())

    async def authorize(
        self,
        app: AppCredentials,
        *,
        user: str,
        password: str,
        scope: str,
        redirect_uri: str,
        requested_actor: str | None = None,
        resource: str | None = None,
        authorization_details: list[dict[str, Any]] | None = None,
        approve: bool = True,
    ) -> tuple[str, str]:
        """Log in and answer the consent page as the user; returns (code, code_verifier)."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **_optional(requested_actor=requested_actor, resource=resource),
        }
        if authorization_details:
            params["authorization_details"] = json.dumps(authorization_details)
        # The browser session lives only for this flow: it is never left in the shared jar,
        # so one user's session cannot carry over into another user's flow.
        self.http.cookies.clear()
        step = await self.http.get(f"{self.issuer}/authorize?{urlencode(params)}")
        location = self._redirect(step, redirect_uri)
        landing = parse_qs(urlsplit(location).query)
        if "request_id" not in landing:
            # Refused at once (RFC 6749 §4.1.2.1): the redirect carries the error, not a login.
            error = landing.get("error", ["invalid_response"])[0]
            description = landing.get("error_description", ["no login page was offered"])[0]
            raise OAuthClientError(400, error, description)
        request_id = landing["request_id"][0]
        # As a browser: open the login page (its form token and pre-session cookie), post it.
        login = await self._post_form(
            f"/login?request_id={request_id}",
            "/login",
            {"request_id": request_id, "username": user, "password": password},
        )
        session = login.cookies.get(SESSION_COOKIE)
        self.http.cookies.clear()
        if login.status_code != 303 or not session:
            raise OAuthClientError(login.status_code, "login_failed", "login was refused")
        cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
        # Read the consent page as the user would see it; its form carries the anti-CSRF token.
        page = await self.http.get(f"{self.issuer}/consent?request_id={request_id}", headers=cookie)
        found = _CSRF_FIELD.search(page.text)
        if page.status_code != 200 or found is None:
            raise OAuthClientError(page.status_code, "consent_page", "no consent form")
        decision = await self.http.post(
            f"{self.issuer}/consent",
            headers={**cookie, "Origin": _origin(self.issuer)},
            data={
                "request_id": request_id,
                "csrf": found.group(1),
                "decision": "approve" if approve else "deny",
            },
        )
        query = parse_qs(urlsplit(self._redirect(decision, redirect_uri)).query)
        if query.get("state") != [state] or query.get("iss") != [self.issuer]:
            raise OAuthClientError(400, "invalid_response", "state or iss mismatch (RFC 9207)")
        if "error" in query:
            raise OAuthClientError(400, query["error"][0], query.get("error_description", [""])[0])
        return query["code"][0], verifier

    async def _post_form(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        """Open an IAM page and post its form with the form's anti-CSRF token, as a browser
        does (the page's cookies stay in the jar for the post)."""
        shown = await self.http.get(f"{self.issuer}{page}")
        found = _CSRF_FIELD.search(shown.text)
        return await self.http.post(
            f"{self.issuer}{action}",
            headers={"Origin": _origin(self.issuer)},
            data={**data, "csrf": found.group(1) if found else ""},
        )

    def _redirect(self, response: httpx.Response, redirect_uri: str) -> str:
        if response.status_code not in (302, 303):
            raise OAuthClientError(response.status_code, "unexpected_page", response.text[:200])
        location = response.headers["location"]
        if location.startswith(redirect_uri):
            query = parse_qs(urlsplit(location).query)
            if "error" in query and "code" not in query and "state" not in query:
                raise OAuthClientError(400, query["error"][0], "")
        return location

    async def redeem_code(
        self,
        app: AppCredentials,
        code: str,
        verifier: str,
        *,
        redirect_uri: str,
        actor_token: str | None = None,
        resource: str | None = None,
        dpop: DPoPKey | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """Redeem a code; with an actor token and ``task``, the OBO token belongs to that
        task and ends with it (docs/design.md §3.2)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            **_optional(resource=resource, actor_token=actor_token, task_token=task),
        }
        if app.secret is None:
            form["client_id"] = app.client_id
        if actor_token:
            form["actor_token_type"] = ACCESS_TOKEN_TYPE
        return dict((await self._post("/token", form, self._basic(app), dpop)).json())

    async def exchange(
        self,
        agent: AgentCredentials,
        *,
        subject_token: str,
        actor_token: str,
        scope: str | None = None,
        resource: str | None = None,
        audience: str | None = None,
        dpop: DPoPKey | None = None,
    ) -> dict[str, Any]:
        """RFC 8693 §2.1; ``audience`` naming another agent asks for a hand-off grant."""
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": actor_token,
            "actor_token_type": ACCESS_TOKEN_TYPE,
            **self._agent_auth(agent),
            **_optional(scope=scope, resource=resource, audience=audience),
        }
        return dict((await self._post("/token", form, dpop=dpop)).json())

    async def backchannel(
        self,
        agent: AgentCredentials,
        *,
        login_hint: str,
        scope: str,
        authorization_details: list[dict[str, Any]],
        binding_message: str,
        resource: str | None = None,
    ) -> dict[str, Any]:
        """OpenID CIBA Core 1.0 §7.1 backchannel authentication request (``private_key_jwt``);
        the answer (§7.3) carries ``auth_req_id``, ``expires_in`` and ``interval``."""
        form = {
            "login_hint": login_hint,
            "scope": scope,
            "binding_message": binding_message,
            "authorization_details": json.dumps(authorization_details),
            **self._agent_auth(agent),
            **_optional(resource=resource),
        }
        return dict((await self._post("/bc-authorize", form)).json())

    async def ciba_token(
        self,
        agent: AgentCredentials,
        auth_req_id: str,
        *,
        dpop: DPoPKey | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """CIBA §10.1 token request, within ``task`` (the approval-bound token ends with it);
        §11 answers (``authorization_pending``, ``slow_down``, ``access_denied``,
        ``expired_token``) raise :class:`OAuthClientError`."""
        form = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, **self._agent_auth(agent)}
        form.update(_optional(task_token=task))
        return dict((await self._post("/token", form, dpop=dpop)).json())

    async def withdraw_consent(
        self, *, user: str, password: str, actor: str, client_id: str | None = None
    ) -> None:
        """Sign in to the account page as the user and withdraw consent for ``actor``."""
        self.http.cookies.clear()
        login = await self._post_form("/login", "/login", {"username": user, "password": password})
        session = login.cookies.get(SESSION_COOKIE)
        self.http.cookies.clear()
        if login.status_code != 303 or not session:
            raise OAuthClientError(login.status_code, "login_failed", "login was refused")
        cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
        page = await self.http.get(f"{self.issuer}/account/consents", headers=cookie)
        found = _CSRF_META.search(page.text)
        response = await self.http.post(
            f"{self.issuer}/account/consents/withdraw",
            headers={**cookie, "Origin": _origin(self.issuer)},
            data={
                "actor": actor,
                "csrf": found.group(1) if found else "",
                **_optional(client_id=client_id),
            },
        )
        if response.status_code != 303:
            raise OAuthClientError(response.status_code, "withdraw_failed", response.text[:200])

    # -- token status --------------------------------------------------------------------
    async def introspect(self, token: str, *, as_app: AppCredentials) -> dict[str, Any]:
        response = await self._post("/introspect", {"token": token}, self._basic(as_app))
        return dict(response.json())

    async def revoke(
        self,
        token: str,
        *,
        as_app: AppCredentials | None = None,
        as_agent: AgentCredentials | None = None,
    ) -> None:
        form = {"token": token, **(self._agent_auth(as_agent) if as_agent else {})}
        await self._post("/revoke", form, self._basic(as_app) if as_app else None)


def _optional(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}
