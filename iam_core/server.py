"""The IAM over HTTP: routes wired to the modules that do the work.

Endpoints (issuer at the root): RFC 8414 metadata, the JWKS, ``/authorize`` with its login
and consent pages, ``/token``, ``/introspect`` (RFC 7662), ``/revoke`` (RFC 7009), SCIM 2.0
at ``/scim/v2`` (RFC 7644) and the audit log at ``/audit``.

Bad input never produces a 500 or a traceback: OAuth errors answer per RFC 6749 §5.2,
malformed requests per RFC 6750 §3.1, and every refusal is audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow, RedirectableError
from iam_core.client_auth import ClientAuthenticator
from iam_core.errors import InvalidClient, InvalidRequest, OAuthError
from iam_core.grants import TokenEndpoint
from iam_core.iam import IAM
from iam_core.introspection import introspect, revoke
from iam_core.pages import account_page, consent_page, error_page, login_page
from iam_core.policy import SCOPES, format_scope
from iam_core.registry import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
)
from iam_core.scim import scim_router
from iam_core.trace import current_trace_id, make_traceparent, new_trace_id, parse_traceparent

SESSION_COOKIE = "iam_session"
MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; repeated parameters are refused (§3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("request body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the body is not valid form data") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name[:40]!r} is repeated")
        form[name] = value
    return {k: v for k, v in form.items() if v != ""}


def query_params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            raise InvalidRequest(f"parameter {name[:40]!r} is repeated")
        params[name] = value
    return {k: v for k, v in params.items() if v != ""}


def oauth_error_response(exc: OAuthError, *, basic: bool = False) -> JSONResponse:
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient):
        headers["WWW-Authenticate"] = 'Basic realm="agent-iam"' if basic else "Bearer"
    elif exc.status in (401, 403):
        description = exc.description.replace('"', "'")
        headers["WWW-Authenticate"] = (
            f'Bearer error="{exc.error}", error_description="{description}"'
        )
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def create_app(iam: IAM) -> FastAPI:
    app = FastAPI(title="agent-iam-lab IAM", version="0.1.0", docs_url=None, redoc_url=None)
    flow = AuthorizationFlow(iam)
    token_endpoint_url = f"{iam.issuer}/token"
    clients = ClientAuthenticator(iam, token_endpoint_url)
    tokens = TokenEndpoint(iam, flow, clients)
    app.state.iam = iam

    @app.middleware("http")
    async def trace_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        trace_id = parse_traceparent(request.headers.get("traceparent")) or new_trace_id()
        reset = current_trace_id.set(trace_id)
        try:
            response = await call_next(request)
        finally:
            current_trace_id.reset(reset)
        response.headers.setdefault("traceparent", make_traceparent(trace_id))
        return response

    @app.exception_handler(OAuthError)
    async def on_oauth_error(request: Request, exc: OAuthError) -> Response:
        if isinstance(exc, RedirectableError):
            query = {"error": exc.error, "error_description": exc.description, "iss": iam.issuer}
            if exc.state:
                query["state"] = exc.state
            return RedirectResponse(f"{exc.redirect_uri}?{urlencode(query)}", status_code=303)
        if not exc.audited:
            iam.record(
                AuditEvent(
                    event="request.refused",
                    outcome="denied",
                    reason=f"{exc.error}: {exc.description}",
                    method=request.method,
                    path=request.url.path,
                )
            )
        basic = request.headers.get("authorization", "")[:6].lower() == "basic "
        return oauth_error_response(exc, basic=basic)

    # -- discovery -----------------------------------------------------------------------
    @app.get("/.well-known/oauth-authorization-server")
    async def metadata() -> dict[str, Any]:
        """RFC 8414 §2 authorization server metadata."""
        return {
            "issuer": iam.issuer,
            "authorization_endpoint": f"{iam.issuer}/authorize",
            "token_endpoint": token_endpoint_url,
            "jwks_uri": f"{iam.issuer}/jwks.json",
            "introspection_endpoint": f"{iam.issuer}/introspect",
            "revocation_endpoint": f"{iam.issuer}/revoke",
            "scopes_supported": sorted(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": [
                GRANT_AUTHORIZATION_CODE,
                GRANT_CLIENT_CREDENTIALS,
                GRANT_TOKEN_EXCHANGE,
            ],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "private_key_jwt",
                "none",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "private_key_jwt",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "private_key_jwt",
            ],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "authorization_details_types_supported": ["hotel_booking", "payment"],
            "resources": {r.name: r.uri for r in iam.resources.values()},
            "scim_endpoint": f"{iam.issuer}/scim/v2",
            "audit_endpoint": f"{iam.issuer}/audit",
        }

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return iam.keys.jwks()

    # -- token endpoints -----------------------------------------------------------------
    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await read_form(request)
        body = tokens.handle(form, request.headers.get("authorization"))
        return JSONResponse(body, headers=NO_STORE)

    @app.post("/introspect")
    async def introspection(request: Request) -> Response:
        form = await read_form(request)
        client = clients.authenticate(form, request.headers.get("authorization"))
        return JSONResponse(introspect(iam, client, form), headers=NO_STORE)

    @app.post("/revoke")
    async def revocation(request: Request) -> Response:
        form = await read_form(request)
        client = clients.authenticate(form, request.headers.get("authorization"))
        revoke(iam, client, form)
        return Response(status_code=200, headers=NO_STORE)

    # -- browser: authorize, login, consent, account -------------------------------------
    @app.get("/authorize")
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

    @app.get("/login")
    async def login_form(request_id: str = "") -> Response:
        """Sign in for an authorization request, or (without one) to manage consents."""
        if not request_id:
            return HTMLResponse(login_page("", "your account"))
        pending = flow.pending(request_id)
        if pending is None:
            return HTMLResponse(error_page("Sign in", "This sign-in link expired."), 400)
        return HTMLResponse(login_page(request_id, _client_name(pending.client_id)))

    @app.post("/login")
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
                    sub=username or None,
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

    @app.get("/consent")
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
            )
        )

    @app.post("/consent")
    async def consent(request: Request) -> Response:
        form = await read_form(request)
        pending = flow.pending(form.get("request_id", ""))
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        if pending is None or user is None:
            return HTMLResponse(error_page("Consent", "This request expired."), 400)
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

    @app.get("/account/consents")
    async def account(request: Request) -> Response:
        user = flow.session_user(request.cookies.get(SESSION_COOKIE))
        if user is None:
            return HTMLResponse(error_page("Consents", "Sign in first."), status_code=401)
        consents = [
            {"client_id": c.client_id, "actor": c.actor, "scopes": format_scope(c.scopes)}
            for c in iam.consents.for_user(user)
        ]
        return HTMLResponse(account_page(user, consents))

    @app.post("/account/consents/withdraw")
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

    # -- audit ---------------------------------------------------------------------------
    @app.get("/audit")
    async def audit(
        request: Request,
        agent: str | None = None,
        user: str | None = None,
        actor_kind: str | None = None,
        event: str | None = None,
        since: int = 0,
        limit: int = 1000,
    ) -> Response:
        caller = _audit_reader(request)
        entries = iam.audit.query(
            agent=agent,
            user=user,
            actor_kind=actor_kind,
            event=event,
            since_seq=since,
            limit=max(1, min(limit, 10_000)),
        )
        iam.record(
            AuditEvent(
                event="audit.read",
                outcome="allowed",
                reason="audit:read",
                sub=caller.sub,
                client_id=caller.client_id,
                token_type=caller.token_type.value,
                jti=caller.jti,
            )
        )
        return JSONResponse({"entries": [e.to_dict() for e in entries]})

    @app.get("/audit/verify")
    async def audit_verify(request: Request) -> Response:
        _audit_reader(request)
        result = iam.audit.verify()
        return JSONResponse(
            {
                "ok": result.ok,
                "entries_checked": result.entries_checked,
                "checkpoints_checked": result.checkpoints_checked,
                "first_bad_seq": result.first_bad_seq,
                "reason": result.reason,
            }
        )

    def _audit_reader(request: Request) -> Any:
        try:
            return iam.authorize_bearer(request.headers.get("authorization"), "audit:read")
        except OAuthError as exc:
            iam.record(
                AuditEvent(
                    event="audit.read",
                    outcome="denied",
                    reason=exc.description,
                    path=request.url.path,
                    method=request.method,
                )
            )
            exc.audited = True
            raise

    def _client_name(client_id: str) -> str:
        app_ = iam.registry.get_app(client_id)
        return app_.name if app_ else client_id

    app.include_router(scim_router(iam), prefix="/scim/v2")
    _install_fallbacks(app, iam)
    return app


def _set_session(response: Response, session: str, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )


def _install_fallbacks(app: FastAPI, iam: IAM) -> None:
    """Malformed requests answer 400 and unexpected failures a JSON 500 — never a traceback."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return oauth_error_response(InvalidRequest(f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            {
                "error": "not_found" if exc.status_code == 404 else "invalid_request",
                "error_description": str(exc.detail),
            },
            status_code=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        iam.record(
            AuditEvent(
                event="server.error",
                outcome="denied",
                reason=f"internal error: {type(exc).__name__}",
                method=request.method,
                path=request.url.path,
            )
        )
        return JSONResponse(
            {"error": "server_error", "error_description": "internal error; it has been audited"},
            status_code=500,
        )
