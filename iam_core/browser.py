"""The browser-facing routes: authorization requests, login, consent and the account page.

RFC 6749 §4.1.1-§4.1.2 with PKCE (RFC 7636) and, for agents, ``requested_actor``
(draft-oauth-ai-agents-on-behalf-of-user-02 §4). The session cookie is HttpOnly and
SameSite=Lax. Every form carries an anti-CSRF token and cross-site posts are refused
(``csrf.py``); failed logins are throttled and passwords checked off the event loop
(``login_guard.py``). Authorization responses carry ``iss`` (RFC 9207).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from iam_core import csrf
from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow
from iam_core.errors import InvalidRequest, OAuthError
from iam_core.http import query_params, read_form
from iam_core.iam import IAM
from iam_core.login_guard import LoginThrottle, Overloaded, PasswordChecker
from iam_core.pages import account_page, consent_page, error_page, login_page
from iam_core.policy import format_scope

SESSION_COOKIE = "iam_session"


def browser_router(iam: IAM, flow: AuthorizationFlow) -> APIRouter:
    router = APIRouter()
    passwords = PasswordChecker(iam.registry)
    throttle = LoginThrottle(
        iam.config.login_failures_per_account,
        iam.config.login_failures_per_address,
        iam.clock,
        store=iam.store,
    )

    def refused(form: str, request: Request, why: str, sub: str | None = None) -> Response:
        """A forged or cross-site form post: 403, audited (never with the form's values)."""
        iam.record(
            AuditEvent(
                event=f"{form}.refused",
                outcome="denied",
                reason=f"anti-CSRF: {why}",
                sub=sub,
                details={"client_address": _address(request)},
            )
        )
        return HTMLResponse(error_page("Forbidden", "Open the page again and retry."), 403)

    def forged(request: Request, form: dict[str, str], secret: str | None, purpose: str) -> str:
        """Why this form post is not from the IAM's own page, or "" when it is."""
        why = csrf.cross_site(request, iam.issuer)
        if why:
            return why
        if not csrf.token_ok(secret, purpose, form.get(csrf.FIELD, "")):
            return "missing or wrong form token"
        return ""

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

    def login_response(
        request: Request, request_id: str, name: str, error: str | None = None, status: int = 200
    ) -> Response:
        """The login form, its token keyed with this browser's pre-session cookie."""
        secret, new = csrf.presession(request)
        token = csrf.form_token(secret, f"login:{request_id}")
        response = HTMLResponse(login_page(request_id, name, error, csrf=token), status)
        if new:
            csrf.set_presession(response, secret, request)
        return response

    @router.get("/login")
    async def login_form(request: Request, request_id: str = "") -> Response:
        """Sign in for an authorization request, or (without one) to manage consents."""
        if not request_id:
            return login_response(request, "", "your account")
        pending = flow.pending(request_id)
        if pending is None:
            return HTMLResponse(error_page("Sign in", "This sign-in link expired."), 400)
        return login_response(request, request_id, _client_name(pending.client_id))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        request_id = form.get("request_id", "")
        secret = request.cookies.get(csrf.PRESESSION_COOKIE)
        why = forged(request, form, secret, f"login:{request_id}")
        if why:
            return refused("login", request, why)
        pending = flow.pending(request_id) if request_id else None
        if request_id and pending is None:
            return HTMLResponse(error_page("Sign in", "This sign-in link expired."), 400)
        client_id = pending.client_id if pending else None
        username = form.get("username", "")[:128]
        # Only a known user id is recorded: a password typed into the user field must
        # never reach the log. Throttling counts per account, whatever its spelling
        # (NFKC, case: docs/design.md §1, canonical identifiers).
        known = iam.registry.login_id(username)
        account = known or username.casefold()
        address = _address(request)
        name = _client_name(client_id) if client_id else "your account"
        blocked = throttle.blocked(account, address)
        if blocked is not None:
            kind, wait = blocked
            iam.record(
                AuditEvent(
                    event="login.throttled",
                    outcome="denied",
                    reason=f"too many failed logins for this {kind}",
                    sub=known,
                    client_id=client_id,
                    token_type="user",
                    details={"client_address": address, "limit": kind, "retry_after": wait},
                )
            )
            page = login_page(request_id, name, "Too many failed sign-ins. Try again later.")
            return HTMLResponse(page, status_code=429, headers={"Retry-After": str(wait)})
        try:
            user = await passwords.check(username, form.get("password", ""))
        except Overloaded:
            page = error_page("Sign in", "Too many sign-ins at once. Try again shortly.")
            return HTMLResponse(page, status_code=503, headers={"Retry-After": "1"})
        if user is None:
            throttle.failed(account, address)
            iam.record(
                AuditEvent(
                    event="login.failed",
                    outcome="denied",
                    reason="wrong user id or password",
                    sub=known,
                    client_id=client_id,
                    token_type="user",
                    details={"client_address": address},
                )
            )
            return login_response(request, request_id, name, "Wrong user id or password.", 401)
        throttle.succeeded(account)
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
        why = csrf.cross_site(request, iam.issuer)
        if why is None and not flow.csrf_ok(session, pending.id, form.get(csrf.FIELD, "")):
            why = "consent form without its anti-CSRF token"
        if why:
            # Not the form this user was shown: a forged cross-origin submission.
            iam.record(
                AuditEvent(
                    event="consent.refused",
                    outcome="denied",
                    reason=why,
                    sub=user,
                    client_id=pending.client_id,
                    details={"client_address": _address(request)},
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
        session = request.cookies.get(SESSION_COOKIE)
        user = flow.session_user(session)
        if user is None or session is None:
            return HTMLResponse(error_page("Consents", "Sign in first."), status_code=401)
        consents = [
            {"client_id": c.client_id, "actor": c.actor, "scopes": format_scope(c.scopes)}
            for c in iam.consents.for_user(user)
        ]
        return HTMLResponse(account_page(user, consents, csrf.form_token(session, "withdraw")))

    @router.post("/account/consents/withdraw")
    async def withdraw(request: Request) -> Response:
        form = await read_form(request)
        session = request.cookies.get(SESSION_COOKIE)
        user = flow.session_user(session)
        if user is None:
            return HTMLResponse(error_page("Consents", "Sign in first."), status_code=401)
        why = forged(request, form, session, "withdraw")
        if why:
            return refused("account", request, why, sub=user)
        actor = form.get("actor", "")
        if not actor:
            raise InvalidRequest("actor is required")
        iam.withdraw_consent(user, actor, client_id=form.get("client_id"))
        return RedirectResponse("/account/consents", status_code=303)

    def _client_name(client_id: str) -> str:
        app_ = iam.registry.get_app(client_id)
        return app_.name if app_ else client_id

    return router


def _address(request: Request) -> str:
    """The peer address (forwarding headers are not trusted: any client can set them)."""
    return request.client.host if request.client else "unknown"


def _set_session(response: Response, session: str, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
