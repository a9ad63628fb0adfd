"""What every hotel service shares: its FastAPI app, error mapping and RFC 9728 metadata.

Bad input never becomes a 500: validation errors are 400, unknown objects 404, business
conflicts 409/422, oversized bodies 413 (counted while they stream), a store that cannot be
used 503 with ``Retry-After`` — all JSON with a clear message. Guard refusals are
the kit's RFC 6750 errors and carry the ``WWW-Authenticate`` they build (RFC 6750 §3).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from hotel.world import WorldError
from iam_core.resource_server import (
    STORAGE_ERRORS,
    BearerError,
    BodyLimit,
    TemporarilyUnavailable,
    find_cause,
    health_response,
    storage_unavailable,
)
from iam_core.resource_server.openapi import document, serve_docs

MAX_BODY_BYTES = 64 * 1024


def service_app(
    name: str,
    *,
    resource: str,
    issuer: str,
    scopes: list[str],
    description: str,
) -> FastAPI:
    """A service app with the error handlers and protected resource metadata installed."""
    app = FastAPI(
        title=f"hotel {name}",
        description=description,
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )

    # Counted while it streams: a chunked body cannot pass the limit (README, "Security limits").
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    async def on_storage(request: Request, exc: Exception) -> Response:
        # Disk full, read-only, locked: JSON 503 + Retry-After, never an allow (fail closed).
        return storage_unavailable(exc)

    for error in STORAGE_ERRORS:  # either driver's (iam_core.store)
        app.add_exception_handler(error, on_storage)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        storage = find_cause(exc, STORAGE_ERRORS)
        if storage is not None:
            return storage_unavailable(storage)
        return JSONResponse(
            {"error": "server_error", "error_description": "internal error"}, status_code=500
        )

    @app.exception_handler(BearerError)
    async def on_denied(request: Request, exc: BearerError) -> Response:
        # RFC 9449 §7.1: a request made with the DPoP scheme is challenged with it.
        dpop = request.headers.get("authorization", "")[:5].lower() == "dpop "
        headers = {"WWW-Authenticate": exc.www_authenticate("DPoP" if dpop else "Bearer")}
        if isinstance(exc, TemporarilyUnavailable):
            headers["Retry-After"] = str(exc.retry_after)  # RFC 6585 §4
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(WorldError)
    async def on_world(request: Request, exc: WorldError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {
                "error": "invalid_request",
                "error_description": f"{where}: {first.get('msg', 'invalid')}",
            },
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            {
                "error": "not_found" if exc.status_code == 404 else "http_error",
                "error_description": str(exc.detail),
            },
            status_code=exc.status_code,
        )

    metadata = {
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256", "RS256"],
        "resource_name": f"hotel {name}",
    }
    app.state.resource_metadata = metadata

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> Response:
        """Whether the service's store reads and writes (``app.state.store``, set by the
        composition root); 503 + Retry-After if not."""
        store = getattr(request.app.state, "store", None)
        if store is None:
            return JSONResponse({"status": "ok", "storage": "none"})
        return await run_in_threadpool(health_response, store, time.time())

    @app.get("/.well-known/oauth-protected-resource", include_in_schema=False)
    async def protected_resource_metadata() -> dict[str, Any]:
        """RFC 9728 §2: how to get a token for this resource (also served, per §3.1, by the
        host at ``/.well-known/oauth-protected-resource/<resource path>``)."""
        return metadata

    # Every route's errors in the OpenAPI document (RFC 6750 challenges, 413, 429, 503), and
    # Swagger UI at /docs, served offline.
    document(app, lambda method, path: ("service", False, False))
    serve_docs(app, app.title)
    return app
