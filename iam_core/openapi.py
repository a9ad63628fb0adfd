"""OpenAPI documents that say what the apps really answer, and ``/docs`` served offline.

FastAPI derives a document from the routes' signatures; that leaves out what the IAM and the
services answer outside them: RFC 6749 §5.2 and RFC 6750 §3 errors with their
``WWW-Authenticate`` challenge, SCIM errors, the 413 of the body limit, the 429 of a quota,
the 503 of an unreachable dependency, and the request bodies read by hand (forms, SCIM
JSON). :func:`document` completes the generated document once, when it is first asked for:

* every operation gets the error responses of its ``family`` (``ERRORS``), with the media
  type and schema its errors have; FastAPI's 422 (never answered: validation errors are 400)
  is removed;
* a path parameter named in the path but not declared is declared (a string);
* ``overrides`` (per ``"METHOD /path"``) add or replace parameters, request bodies and
  responses — and may describe a route FastAPI does not know (``/token``).

:func:`serve_docs` serves Swagger UI at ``/docs`` from the ``swagger-ui-bundle`` package's
own files (``/docs/assets/…``): no CDN, the page works offline.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

Operation = dict[str, Any]

OAUTH_ERROR = {
    "type": "object",
    "description": "RFC 6749 §5.2 / RFC 6750 §3 error",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "error_uri": {"type": "string"},
    },
}
SCIM_ERROR = {
    "type": "object",
    "description": "RFC 7644 §3.12 error",
    "required": ["schemas", "status"],
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string"},
        "scimType": {"type": "string"},
        "detail": {"type": "string"},
    },
}
HTML = {"text/html": {"schema": {"type": "string"}}}
CHALLENGE = {
    "description": "RFC 6750 §3 (or RFC 9449 §7.1) challenge",
    "schema": {"type": "string"},
}
RETRY_AFTER = {"description": "seconds to wait (RFC 9110 §10.2.3)", "schema": {"type": "string"}}
REASONS = {
    400: "Malformed request (invalid_request and the other RFC 6749 §5.2 errors)",
    401: "No valid credentials (RFC 6750 §3.1 invalid_token, or invalid_client)",
    403: "Not allowed (insufficient_scope, or a policy refusal)",
    404: "No such object",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Understood but refused by a business rule",
    429: "Quota exceeded",
    503: "A dependency is unavailable",
}
# Which errors each kind of route can answer.
ERRORS: dict[str, tuple[int, ...]] = {
    "oauth": (400, 401, 413, 429, 503),
    "bearer": (400, 401, 403, 404, 413, 429, 503),
    "scim": (400, 401, 403, 404, 409, 413, 429, 503),
    "page": (400, 401, 403, 404, 413, 429, 503),
    "service": (400, 401, 403, 404, 409, 413, 422, 429, 503),
    "public": (400, 404, 429, 503),
}


def error_responses(family: str, *, scim: bool = False, html: bool = False) -> dict[str, Any]:
    """The documented error responses of a route of ``family``."""
    out: dict[str, Any] = {}
    for status in ERRORS[family]:
        content: dict[str, Any] = {"application/json": {"schema": OAUTH_ERROR}}
        if scim:
            content = {"application/scim+json": {"schema": SCIM_ERROR}} | content
        if html:
            content = content | HTML
        response: dict[str, Any] = {"description": REASONS[status], "content": content}
        headers: dict[str, Any] = {}
        if status in (401, 403) and family not in ("public",):
            headers["WWW-Authenticate"] = CHALLENGE
        if status == 503:
            headers["Retry-After"] = RETRY_AFTER
        if headers:
            response["headers"] = headers
        out[str(status)] = response
    return out


def form_body(properties: Mapping[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` request body of string fields."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": d} for name, d in properties.items()
        },
    }
    if required:
        schema["required"] = list(required)
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def json_body(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


def query(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _declare_path_params(path: str, operation: Operation) -> None:
    declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    for name in re.findall(r"{([^}:]+)}", path):
        if name not in declared:
            parameter = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            operation.setdefault("parameters", []).append(parameter)


def complete(
    generated: dict[str, Any],
    family: Any,
    overrides: Mapping[str, Operation] | None = None,
) -> dict[str, Any]:
    """``generated`` with errors, path parameters and ``overrides`` added (see the module).

    ``family(method, path)`` names the route's family (a key of ``ERRORS``) and whether its
    errors may be SCIM or HTML: ``(family, scim, html)``.
    """
    doc = copy.deepcopy(generated)
    paths: dict[str, dict[str, Operation]] = doc.setdefault("paths", {})
    for key, extra in (overrides or {}).items():
        method, path = key.split(" ", 1)
        operation = paths.setdefault(path, {}).setdefault(method.lower(), {"responses": {}})
        for field, value in extra.items():
            if field == "responses":
                kept = operation.get("responses", {})
                if any(status.startswith("2") for status in value):  # the successes replaced
                    kept = {k: v for k, v in kept.items() if not k.startswith("2")}
                operation["responses"] = kept | value
            else:
                operation[field] = value
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            kind, scim, html = family(method.upper(), path)
            for status, response in error_responses(kind, scim=scim, html=html).items():
                responses.setdefault(status, response)
            _declare_path_params(path, operation)
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def document(app: FastAPI, family: Any, overrides: Mapping[str, Operation] | None = None) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the completed document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), family, overrides)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve_docs(app: FastAPI, title: str) -> None:
    """Swagger UI at ``/docs``, its assets from the installed ``swagger-ui-bundle``."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title=f"{title} — API",
            swagger_js_url="docs/assets/swagger-ui-bundle.js",
            swagger_css_url="docs/assets/swagger-ui.css",
            swagger_favicon_url="docs/assets/favicon-32x32.png",
        )
