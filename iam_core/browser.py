"""The browser-facing routes: authorization requests, login, consent and the account page.

RFC 6749 §4.1.1-§4.1.2 with PKCE (RFC 7636) and, for agents, ``requested_actor``
(draft-oauth-ai-agents-on-behalf-of-user-02 §4). The session cookie is HttpOnly and
SameSite=Lax; the unguessable ``request_id`` bound to the pending request serves as the
CSRF token of the login and consent forms. Authorization responses carry ``iss`` (RFC 9207).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow
from iam_core.errors import InvalidRequest, OAuthError
from iam_core.http import query_params, read_form
from iam_core.iam import IAM
from iam_core.pages import account_page, consent_page, error_page, login_page
from iam_core.policy import format_scope

SESSION_COOKIE = "iam_session"


def browser_router(iam: IAM, flow: AuthorizationFlow) -> APIRouter:
    router = APIRouter()

    @router.get("/authorize")
    async def authorize(request: Request) -> Response:
        try:
            params = query_params(request)
            flow.client_for(params)
        except OAuthError as exc:
            # RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI.
            return HTMLResponse(error_page("Invalid request", exc.description), status_code=400)
        auth_request = flow.start(params)
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        step = "consent" if user else "login"
        return RedirectResponse(f"/{step}?request_id={auth_request.id}", status_code=303)

    @router.get("/login")
    async def login_form(request_id: str = "") -> Response:
        """Sign in for an authorization request, or (without one) to manage consents."""
        if not request_id:
            return HTMLResponse(login_page("", "your account"))
        pending = flow.pending(request_id)
        if pending is None:
            return HTMLResponse(error_page("Sign in", "This sign-in link expired."), 400)
        return HTMLResponse(login_page(request_id, _client_name(pending.client_id)))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        request_id = form.get("request_id", "")
        pending = flow.pending(request_id) if request_id else None
        if request_id and pending is None:
            return HTMLResponse(error_page("Sign in", "This sign-in link expired."), 400)
        client_id = pending.client_id if pending else None
        username = form.get("username", "")[:128]
        user = iam.registry.check_password(username, form.get("password", ""))
        if user is None:
            iam.record(
                AuditEvent(
                    event="login.failed",
                    outcome="denied",
                    reason="wrong user id or password",
                    # Only a known user id is recorded: a password typed into the user
                    # field must never reach the log.
                    sub=iam.registry.login_id(username),
                    client_id=client_id,
                    token_type="user",
                )
            )
            name = _client_name(client_id) if client_id else "your account"
            page = login_page(request_id, name, "Wrong user id or password.")
            return HTMLResponse(page, status_code=401)
        iam.record(
            AuditEvent(
                event="login.succeeded",
                outcome="allowed",
                reason="password",
                sub=user.id,
                client_id=client_id,
                token_type="user",
            )
        )
        target = f"/consent?request_id={request_id}" if pending else "/account/consents"
        response = RedirectResponse(target, status_code=303)
        _set_session(response, flow.open_session(user.id), request)
        return response

    @router.get("/consent")
    async def consent_form(request: Request, request_id: str = "") -> Response:
        pending = flow.pending(request_id)
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        if pending is None:
            return HTMLResponse(error_page("Consent", "This request expired."), 400)
        if user is None:
            return RedirectResponse(f"/login?request_id={request_id}", status_code=303)
        granted = flow.grantable(pending, user)
        actor = None
        if pending.requested_actor:
            agent = iam.registry.get_agent(pending.requested_actor)
            if agent:
                actor = {"id": agent.id, "name": agent.display_name, "owner": agent.owner}
        return HTMLResponse(
            consent_page(
                request_id=pending.id,
                user=user,
                client_name=_client_name(pending.client_id),
                client_id=pending.client_id,
                actor=actor,
                granted=granted,
                withheld=pending.scopes - granted,
                authorization_details=pending.authorization_details,
                csrf=flow.csrf_token(request.cookies.get(SESSION_COOKIE, ""), pending.id),
            )
        )

    @router.post("/consent")
    async def consent(request: Request) -> Response:
        form = await read_form(request)
        pending = flow.pending(form.get("request_id", ""))
        session = request.cookies.get(SESSION_COOKIE)
        user = flow.session_user(session)
        if pending is None or user is None or session is None:
            return HTMLResponse(error_page("Consent", "This request expired."), 400)
        expected = flow.csrf_token(session, pending.id)
        if not hmac.compare_digest(form.get("csrf", ""), expected):
            # Not the form this user was shown: a forged cross-origin submission.
            iam.record(
                AuditEvent(
                    event="consent.refused",
                    outcome="denied",
                    reason="consent form without its anti-CSRF token",
                    sub=user,
                    client_id=pending.client_id,
                )
            )
            return HTMLResponse(error_page("Consent", "Open the consent page again."), 403)
        granted = flow.grantable(pending, user)
        query: dict[str, str] = {"iss": iam.issuer}
        if pending.state:
            query["state"] = pending.state
        actors = (pending.requested_actor,) if pending.requested_actor else ()
        if form.get("decision") != "approve" or not granted:
            flow.drop(pending.id)
            reason = "the user denied consent" if granted else "nothing grantable was requested"
            iam.record(
                AuditEvent(
                    event="consent.denied",
                    outcome="denied",
                    reason=reason,
                    sub=user,
                    act=actors,
                    client_id=pending.client_id,
                    scope=format_scope(pending.scopes),
                )
            )
            query.update(error="access_denied", error_description=reason)
        elif (flooded := _approval_flood(iam, user, pending.requested_actor)) is not None:
            # Approval flooding (ATTACKS.md #15): past the quota the page is not shown as
            # approvable; each approval stays bound to its own transaction (the grant).
            flow.drop(pending.id)
            iam.record(
                AuditEvent(
                    event="consent.throttled",
                    outcome="denied",
                    reason=flooded,
                    sub=user,
                    act=actors,
                    client_id=pending.client_id,
                    scope=format_scope(pending.scopes),
                )
            )
            query.update(error="temporarily_unavailable", error_description=flooded)
        else:
            iam.consents.grant(
                user,
                pending.client_id,
                pending.requested_actor,
                granted,
                pending.authorization_details,
            )
            query["code"] = flow.issue_code(pending, user, granted)
            iam.record(
                AuditEvent(
                    event="consent.granted",
                    outcome="allowed",
                    reason="the user approved the consent page",
                    sub=user,
                    act=actors,
                    client_id=pending.client_id,
                    scope=format_scope(granted),
                    details={"scope_requested": format_scope(pending.scopes)},
                )
            )
        return RedirectResponse(f"{pending.redirect_uri}?{urlencode(query)}", status_code=303)

    @router.get("/account/consents")
    async def account(request: Request) -> Response:
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        if user is None:
            return HTMLResponse(error_page("Consents", "Sign in first."), status_code=401)
        consents = [
            {"client_id": c.client_id, "actor": c.actor, "scopes": format_scope(c.scopes)}
            for c in iam.consents.for_user(user)
        ]
        return HTMLResponse(account_page(user, consents))

    @router.post("/account/consents/withdraw")
    async def withdraw(request: Request) -> Response:
        form = await read_form(request)
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        if user is None:
            return HTMLResponse(error_page("Consents", "Sign in first."), status_code=401)
        actor = form.get("actor", "")
        if not actor:
            raise InvalidRequest("actor is required")
        iam.withdraw_consent(user, actor, client_id=form.get("client_id"))
        return RedirectResponse("/account/consents", status_code=303)

    def _client_name(client_id: str) -> str:
        app_ = iam.registry.get_app(client_id)
        return app_.name if app_ else client_id

    return router


def _approval_flood(iam: IAM, user: str, actor: str | None) -> str | None:
    """Why this approval exceeds the per-user, per-agent quota, or None."""
    quota = iam.approval_quota
    if quota is None or actor is None:
        return None
    count = quota.take(f"{user}\x00{actor}")
    if count is None:
        return None
    return (
        f"approval quota exceeded: {count} approvals for {actor} within "
        f"{quota.spec.window} s (limit {quota.spec.limit})"
    )


def _set_session(response: Response, session: str, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
