"""The IAM over HTTP: routes wired to the modules that do the work.

Endpoints (issuer at the root): RFC 8414 metadata, the JWKS, ``/authorize`` with its login
and consent pages, ``/token``, ``/introspect`` (RFC 7662), ``/revoke`` (RFC 7009), SCIM 2.0
at ``/scim/v2`` (RFC 7644) and the audit log at ``/audit``.

Bad input never produces a 500 or a traceback: OAuth errors answer per RFC 6749 §5.2,
malformed requests per RFC 6750 §3.1, and every refusal is audited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from iam_core.approval_pages import approvals_router
from iam_core.audit import AuditEvent
from iam_core.audit_routes import audit_router
from iam_core.authorization import AuthorizationFlow, RedirectableError
from iam_core.browser import browser_router
from iam_core.client_auth import ClientAuthenticator
from iam_core.dpop import DPoPNonces, DPoPVerifier, ReplayCache
from iam_core.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    UseDPoPNonce,
)
from iam_core.grants import TokenEndpoint
from iam_core.grants.ciba import backchannel_request
from iam_core.http import (
    MAX_FORM_BYTES,
    NO_STORE,
    oauth_error_response,
    parse_json_object,
    read_form,
)
from iam_core.iam import IAM
from iam_core.introspection import introspect, revoke
from iam_core.limits import (
    STORAGE_ERRORS,
    BodyLimit,
    find_cause,
    health_response,
    record_if_possible,
    storage_unavailable,
)
from iam_core.policy import SCOPES
from iam_core.registry import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CIBA,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
)
from iam_core.scim import scim_router
from iam_core.scim.service import MAX_BODY_BYTES as SCIM_MAX_BODY
from iam_core.server_openapi import describe
from iam_core.store import DATABASE_ERRORS
from iam_core.token_route import REPLAY, IAMApp, TokenRoute
from iam_core.trace import TraceContextMiddleware

# Per-path body limits over the default MAX_FORM_BYTES: SCIM, and the embedded model API
# that ``agent-iam serve`` mounts at /llm (agents/llm/embedded.py, MAX_BODY).
BODY_LIMITS = {"/scim/v2": SCIM_MAX_BODY, "/llm/": 512 * 1024}


def create_app(iam: IAM) -> FastAPI:
    app = IAMApp(title="agent-iam-lab IAM", version="0.1.0", docs_url=None, redoc_url=None)
    flow = AuthorizationFlow(iam)
    token_endpoint_url = f"{iam.issuer}/token"
    clients = ClientAuthenticator(iam, token_endpoint_url)
    # RFC 9449 §8: proofs carry a server nonce, shared by every process on the store.
    nonces = DPoPNonces.from_store(iam.store, iam.clock)
    replay = ReplayCache(iam.clock, store=iam.store, scope="iam")
    dpop = DPoPVerifier(iam.clock, replay, nonces=nonces)
    tokens = TokenEndpoint(iam, flow, clients, dpop=dpop)
    route = TokenRoute(tokens, dpop, nonces, token_endpoint_url)
    app.token_route = route  # POST /token's fast path (token_route.py)
    app.state.iam = iam

    app.add_middleware(TraceContextMiddleware)
    # Bodies are counted while they stream (README, "Security limits").
    app.add_middleware(
        BodyLimit, max_bytes=MAX_FORM_BYTES, limits=BODY_LIMITS, on_refused=_body_refused(iam)
    )

    @app.exception_handler(OAuthError)
    async def on_oauth_error(request: Request, exc: OAuthError) -> Response:
        # The nonce handshake (RFC 9449 §8) is no refusal: the same request succeeds when sent
        # with the nonce; unaudited, so that no unauthenticated client can fill the log with it.
        if not exc.audited and not isinstance(exc, UseDPoPNonce):
            # Every refusal is audited, including those answered by redirect (RFC 6749 §4.1.2.1).
            params = request.query_params
            record_if_possible(
                iam.record,
                AuditEvent(
                    event="request.refused",
                    outcome="denied",
                    reason=f"{exc.error}: {exc.description}",
                    method=request.method,
                    path=request.url.path,
                    client_id=(params.get("client_id") or "")[:64] or None,
                    act=(params["requested_actor"][:64],) if params.get("requested_actor") else (),
                ),
            )
            exc.audited = True
        if isinstance(exc, RedirectableError):
            query = {"error": exc.error, "error_description": exc.description, "iss": iam.issuer}
            if exc.state:
                query["state"] = exc.state
            return RedirectResponse(f"{exc.redirect_uri}?{urlencode(query)}", status_code=303)
        basic = request.headers.get("authorization", "")[:6].lower() == "basic "
        response = oauth_error_response(exc, basic=basic)
        if isinstance(exc, UseDPoPNonce) or request.url.path == "/token":
            response.headers["DPoP-Nonce"] = nonces.current()  # RFC 9449 §8
        return response

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
                GRANT_CIBA,
            ],
            # OpenID CIBA Core 1.0 §4: poll mode only; requests are not signed (§7.1.1).
            "backchannel_authentication_endpoint": f"{iam.issuer}/bc-authorize",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": False,
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "private_key_jwt",
                "none",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "dpop_signing_alg_values_supported": ["ES256", "RS256"],
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
            "authorization_details_types_supported": [
                "hotel_booking",
                "payment",
                "refund",
                "booking_cancellation",
                "rate_override",
            ],
            "resources": {r.name: r.uri for r in iam.resources.values()},
            "scim_endpoint": f"{iam.issuer}/scim/v2",
            "audit_endpoint": f"{iam.issuer}/audit",
            "security_events_poll_endpoint": f"{iam.issuer}/events/poll",
        }

    @app.get("/health")
    async def health() -> Response:
        """Whether the IAM's store can be read and written (503 + Retry-After if not)."""
        return await run_in_threadpool(health_response, iam.store, iam.clock.now())

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return iam.keys.jwks()

    # -- token endpoints -----------------------------------------------------------------
    async def token(request: Request) -> Response:
        """RFC 6749 §3.2 token endpoint; :class:`IAMApp` answers its successes directly."""
        failed = request.scope.get(REPLAY)
        if failed is not None:
            raise failed  # a refusal of the fast path, answered by the handlers here
        form = await read_form(request)
        dpop_headers = request.headers.getlist("dpop")
        body = route.answer(form, request.headers.get("authorization"), dpop_headers)
        return JSONResponse(body, headers=route.headers())

    app.router.add_route("/token", token, methods=["POST"])

    @app.post("/bc-authorize")
    async def bc_authorize(request: Request) -> Response:
        """OpenID CIBA Core 1.0 §7.1 backchannel authentication endpoint (poll mode)."""
        form = await read_form(request)
        client = None
        try:
            with iam.store.transaction():
                client = clients.authenticate(form, request.headers.get("authorization"))
                body = backchannel_request(iam, client, form)
        except OAuthError as exc:
            if not exc.audited:
                iam.record(
                    AuditEvent(
                        event=getattr(exc, "event", "approval.refused"),
                        outcome="denied",
                        reason=f"{exc.error}: {exc.description}"[:300],
                        sub=(form.get("login_hint") or "")[:64] or None,
                        act=(client.id,) if client else (),
                        client_id=client.id if client else None,
                        path="/bc-authorize",
                    )
                )
                exc.audited = True
            raise
        return JSONResponse(body, headers=NO_STORE)

    @app.post("/introspect")
    async def introspection(request: Request) -> Response:
        form = await read_form(request)
        client = clients.authenticate(
            form, request.headers.get("authorization"), f"{iam.issuer}/introspect"
        )
        if client.method == "none":
            # RFC 7662 §2.1: the caller must authenticate; a bare client_id proves nothing.
            raise InvalidClient("introspection needs client authentication")
        return JSONResponse(introspect(iam, client, form), headers=NO_STORE)

    @app.post("/revoke")
    async def revocation(request: Request) -> Response:
        form = await read_form(request)
        client = clients.authenticate(
            form, request.headers.get("authorization"), f"{iam.issuer}/revoke"
        )
        revoke(iam, client, form)
        headers = dict(NO_STORE)
        wait = _preferred_wait(request.headers.getlist("prefer"))
        if wait is not None:
            # RFC 7240 §4.3 "Prefer: wait=N": answer once every registered receiver of the
            # revocation events acknowledged them (RFC 8936 §2.4), or after N seconds.
            done = await iam.events.delivered(timeout=wait)
            headers["Preference-Applied"] = f"wait={wait:g}"
            headers["Revocation-Delivery"] = "acknowledged" if done else "pending"
        return Response(status_code=200, headers=headers)

    # -- security events (RFC 8936 poll delivery) ----------------------------------------
    @app.post("/events/poll")
    async def poll_events(request: Request) -> Response:
        """RFC 8936 §2.4: ``ack`` delivered SETs, get the next ones; long-polls up to 10 s."""
        caller = iam.authorize_bearer(request.headers.get("authorization"), "events:read")
        body = parse_json_object(await request.body(), empty={})
        ack = body.get("ack", [])
        max_events = body.get("maxEvents", 100)
        immediately = body.get("returnImmediately", False)
        if not (isinstance(ack, list) and all(isinstance(a, str) for a in ack)):
            raise InvalidRequest("ack must be a list of SET jti values")
        if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 0:
            raise InvalidRequest("maxEvents must be a non-negative integer")
        sets, more = await iam.events.poll(
            caller.sub,
            ack=ack[:1000],
            max_events=min(max_events, 1000),
            wait=0.0 if immediately or max_events == 0 else 10.0,
        )
        return JSONResponse({"sets": sets, "moreAvailable": more}, headers=NO_STORE)

    app.include_router(audit_router(iam, dpop, nonces))
    app.include_router(browser_router(iam, flow))
    app.include_router(approvals_router(iam, flow))
    app.include_router(scim_router(iam), prefix="/scim/v2")
    _install_fallbacks(app, iam)
    describe(app)  # the complete OpenAPI document, and /docs (server_openapi.py)
    return app


MAX_DELIVERY_WAIT = 10.0


def _body_refused(iam: IAM) -> Any:
    """Audit a body refused for its size (413) before any endpoint read it."""

    def record(method: str, path: str, limit: int) -> None:
        record_if_possible(
            iam.record,
            AuditEvent(
                event="request.refused",
                outcome="denied",
                reason=f"request body larger than {limit} bytes",
                method=method,
                path=path,
            ),
        )

    return record


def _preferred_wait(prefer: list[str]) -> float | None:
    """The ``wait`` preference of RFC 7240 §4.3 in seconds (capped), or None."""
    for header in prefer:
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name.strip().lower() == "wait":
                try:
                    seconds = float(value.strip().strip('"'))
                except ValueError:
                    return None
                return min(max(seconds, 0.0), MAX_DELIVERY_WAIT) if seconds == seconds else None
    return None


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

    async def on_storage(request: Request, exc: Exception) -> Response:
        return _storage_failure(request, exc)

    for error in DATABASE_ERRORS:  # either driver's (iam_core.store)
        app.add_exception_handler(error, on_storage)

    def _storage_failure(request: Request, exc: BaseException) -> Response:
        """Disk full, read-only or locked: JSON 503 + Retry-After; nothing was allowed."""
        record_if_possible(
            iam.record,
            AuditEvent(
                event="server.storage_unavailable",
                outcome="denied",
                reason=f"storage unavailable: {str(exc)[:120]}",
                method=request.method,
                path=request.url.path,
            ),
        )
        return storage_unavailable(exc)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        storage = find_cause(exc, STORAGE_ERRORS)
        if storage is not None:
            return _storage_failure(request, storage)
        record_if_possible(
            iam.record,
            AuditEvent(
                event="server.error",
                outcome="denied",
                reason=f"internal error: {type(exc).__name__}",
                method=request.method,
                path=request.url.path,
            ),
        )
        return JSONResponse(
            {"error": "server_error", "error_description": "internal error; it has been audited"},
            status_code=500,
        )
