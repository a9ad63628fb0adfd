"""The IAM's OpenAPI document: what FastAPI cannot see in the routes' signatures.

The token endpoint (a plain Starlette route), the forms read by hand (``/token``,
``/introspect``, ``/revoke``, the login and consent pages), ``/authorize``'s query, the
SCIM bodies and their 201/204 answers, and every route's errors (``iam_core.openapi``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from iam_core.openapi import HTML, document, form_body, json_body, query, serve_docs

CLIENT_AUTH = {
    "client_id": "the client (public clients, or with client_secret / an assertion)",
    "client_secret": "client_secret_post (client_secret_basic in Authorization is preferred)",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": "RFC 7523 private_key_jwt assertion",
}
TOKEN_FORM = {
    "grant_type": "authorization_code, client_credentials, or token-exchange (RFC 8693)",
    "code": "authorization code (authorization_code)",
    "redirect_uri": "as sent to /authorize (authorization_code)",
    "code_verifier": "PKCE verifier (RFC 7636)",
    "scope": "space-separated scopes",
    "resource": "RFC 8707 resource indicator",
    "audience": "RFC 8693 audience",
    "authorization_details": "RFC 9396 authorization details (JSON array)",
    "subject_token": "RFC 8693 subject token",
    "subject_token_type": "RFC 8693 subject token type",
    "actor_token": "RFC 8693 actor token",
    "actor_token_type": "RFC 8693 actor token type",
    "requested_token_type": "RFC 8693 requested token type",
    "requested_actor": "the agent a task is opened for (client_credentials, scope tasks:open)",
    "task_token": "the live task an agent's own token for a service is asked within",
} | CLIENT_AUTH
TOKEN_RESPONSE = {
    "type": "object",
    "required": ["access_token", "token_type"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer", "DPoP", "N_A"]},
        "expires_in": {"type": "integer"},
        "scope": {"type": "string"},
        "issued_token_type": {"type": "string"},
        "refresh_token": {"type": "string"},
        "authorization_details": {"type": "array"},
    },
}
NO_STORE = {"Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}
HEADERS = [
    {
        "name": "Authorization",
        "in": "header",
        "required": False,
        "description": "client_secret_basic credentials",
        "schema": {"type": "string"},
    },
]
DPOP = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "RFC 9449 proof",
    "schema": {"type": "string"},
}
REDIRECT = {
    "303": {
        "description": "Redirect (the next step, or the client's redirect URI)",
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    }
}
PAGE = {"200": {"description": "An HTML page", "content": HTML}}
AUTHORIZE_QUERY = [
    query("response_type", "code", required=True),
    query("client_id", "the client", required=True),
    query("redirect_uri", "one of the client's registered URIs"),
    query("scope", "space-separated scopes"),
    query("state", "opaque value returned to the client"),
    query("code_challenge", "PKCE challenge (RFC 7636)", required=True),
    query("code_challenge_method", "S256"),
    query("resource", "RFC 8707 resource indicator"),
    query("authorization_details", "RFC 9396 authorization details (JSON array)"),
    query("requested_actor", "the agent that will act for the user"),
]
OBJECT = {"type": "object"}
SCIM_MEDIA = {"application/scim+json": {"schema": OBJECT}, "application/json": {"schema": OBJECT}}


def _scim(status: str, description: str) -> dict[str, Any]:
    return {status: {"description": description, "content": SCIM_MEDIA}}


def overrides() -> dict[str, dict[str, Any]]:
    token_ok = {"description": "Tokens", "headers": NO_STORE}
    out: dict[str, dict[str, Any]] = {
        "POST /token": {
            "summary": "Token endpoint (RFC 6749 §3.2, RFC 8693, RFC 7523, RFC 9449)",
            "operationId": "token",
            "parameters": [*HEADERS, DPOP],
            "requestBody": form_body(TOKEN_FORM, ("grant_type",)),
            "responses": {
                "200": token_ok | {"content": {"application/json": {"schema": TOKEN_RESPONSE}}}
            },
        },
        "POST /introspect": {
            "summary": "Token introspection (RFC 7662)",
            "parameters": HEADERS,
            "requestBody": form_body(
                {"token": "the token", "token_type_hint": "access_token"} | CLIENT_AUTH,
                ("token",),
            ),
            "responses": {
                "200": {
                    "description": "Introspection response",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["active"],
                                "properties": {"active": {"type": "boolean"}},
                            }
                        }
                    },
                }
            },
        },
        "POST /revoke": {
            "summary": "Token revocation (RFC 7009)",
            "parameters": HEADERS,
            "requestBody": form_body(
                {"token": "the token", "token_type_hint": "access_token"} | CLIENT_AUTH,
                ("token",),
            ),
            "responses": {"200": {"description": "Revoked (or unknown: RFC 7009 §2.2)"}},
        },
        "GET /authorize": {
            "summary": "Authorization endpoint (RFC 6749 §4.1, PKCE required)",
            "parameters": AUTHORIZE_QUERY,
            "responses": REDIRECT,
        },
        "GET /login": {"responses": PAGE},
        "POST /login": {
            "requestBody": form_body(
                {"request_id": "", "username": "", "password": "", "csrf": "form token"}
            ),
            "responses": PAGE | REDIRECT,
        },
        "GET /consent": {"responses": PAGE | REDIRECT},
        "POST /consent": {
            "requestBody": form_body(
                {"request_id": "", "decision": "approve or deny", "csrf": "form token"}
            ),
            "responses": PAGE | REDIRECT,
        },
        "GET /account/consents": {"responses": PAGE},
        "POST /account/consents/withdraw": {
            "requestBody": form_body({"actor": "", "client_id": "", "csrf": "form token"}),
            "responses": REDIRECT,
        },
        "POST /events/poll": {
            "requestBody": json_body(
                {
                    "type": "object",
                    "properties": {
                        "ack": {"type": "array", "items": {"type": "string"}},
                        "maxEvents": {"type": "integer", "minimum": 0},
                        "returnImmediately": {"type": "boolean"},
                    },
                }
            ),
        },
        "POST /audit/report": {
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["event"],
                    "properties": {
                        "event": {"type": "string"},
                        "reason": {"type": "string"},
                        "from": {"type": "string"},
                    },
                }
            ),
            "parameters": [DPOP],
            "responses": {"204": {"description": "Recorded"}},
        },
    }
    for noun in ("Users", "Agents"):
        base, one = f"/scim/v2/{noun}", f"/scim/v2/{noun}/{{resource_id}}"
        scim_body = {"required": True, "content": SCIM_MEDIA}
        out[f"GET {base}"] = {"responses": _scim("200", "A SCIM ListResponse")}
        out[f"POST {base}/.search"] = {
            "requestBody": scim_body,
            "responses": _scim("200", "A SCIM ListResponse"),
        }
        out[f"POST {base}"] = {"requestBody": scim_body, "responses": _scim("201", "Created")}
        out[f"GET {one}"] = {"responses": _scim("200", "The resource")}
        out[f"PUT {one}"] = {"requestBody": scim_body, "responses": _scim("200", "Replaced")}
        out[f"PATCH {one}"] = {"requestBody": scim_body, "responses": _scim("200", "Patched")}
        out[f"DELETE {one}"] = {"responses": {"204": {"description": "Deleted"}}}
    for path in ("ServiceProviderConfig", "Schemas", "Schemas/{item_id}", "ResourceTypes"):
        out[f"GET /scim/v2/{path}"] = {"responses": _scim("200", "Discovery")}
    out["GET /scim/v2/ResourceTypes/{item_id}"] = {"responses": _scim("200", "Discovery")}
    return out


def family(method: str, path: str) -> tuple[str, bool, bool]:
    """(error family, SCIM errors?, HTML errors?) of one IAM route."""
    if path.startswith("/scim/"):
        return "scim", True, False
    if path in ("/token", "/introspect", "/revoke"):
        return "oauth", False, False
    if path in ("/authorize", "/login", "/consent") or path.startswith("/account/"):
        return "page", False, True
    if path in ("/jwks.json",) or path.startswith("/.well-known/"):
        return "public", False, False
    return "bearer", False, False


def describe(app: FastAPI) -> None:
    """The IAM's complete document at ``/openapi.json``, Swagger UI at ``/docs``."""
    document(app, family, overrides())
    serve_docs(app, app.title)
