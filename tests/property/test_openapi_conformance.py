"""The OpenAPI documents are complete and true: schemathesis's conformance checks find nothing.

For the IAM and each hotel service, in-process: every route is in the document with its
parameters, request body and error responses; cases generated from the document (valid and
invalid) get answers that pass ``not_a_server_error``, ``status_code_conformance``,
``content_type_conformance``, ``response_schema_conformance`` and
``response_headers_conformance`` — whatever the token (none, or genuine ones). ``/docs`` is
Swagger UI served from the package's own files: no asset from outside the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from agent_iam import token_flows
from hotel.app import SERVICES
from scenarios.deployment import Deployment
from tests.hotel.test_fuzz import Served, cases, send, served, valid_tokens

__all__ = ["served"]
APPS = ["iam", *SERVICES]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# A bounded run per app (the profile's examples, at most 30; valid and invalid cases): the
# whole file stays well under a minute. The slow test below runs ten times as many.
BOUNDED = settings(
    max_examples=min(30, settings.default.max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG = settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UNDOCUMENTED = {"/openapi.json", "/docs", "/.well-known/oauth-protected-resource"}


def app_of(dep: Deployment, name: str) -> Any:
    if name == "iam":
        from iam_core.server import create_app  # the IAM's own document, without the services'

        assert dep.iam is not None
        return create_app(dep.iam)
    assert dep.hotel is not None
    return dep.hotel.apps[name]


async def tokens_for(dep: Deployment, name: str) -> list[str | None]:
    if name != "iam":
        return [None, *await valid_tokens(dep, name)]
    audit = await token_flows.app_token(dep, "auditor", "audit:read", "iam")
    scim = await token_flows.app_token(dep, "iam-admin", "scim:admin", "iam")
    return [None, str(audit["access_token"]), str(scim["access_token"])]


def served_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route meant for the document, included routers' too."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # an included APIRouter
            yield from served_routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route) and getattr(route, "include_in_schema", True):
            path = prefix + route.path
            if path not in UNDOCUMENTED:
                yield from ((m, path) for m in sorted((route.methods or set()) - {"HEAD"}))


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


@pytest.mark.parametrize("name", APPS)
def test_every_route_is_documented_with_its_errors(served: Served, name: str) -> None:
    _, dep = served
    app = app_of(dep, name)
    document = app.openapi()
    documented = {(m, p) for m, p, _ in operations(document)}
    routes = list(served_routes(app.routes))
    assert len(routes) >= 3
    for method, path in routes:
        assert (method, path) in documented, (method, path)
    for method, path, op in operations(document):
        codes = set(op["responses"])
        # Validation errors are 400s: FastAPI's 422 is gone (a service's 422 is a business rule).
        assert "HTTPValidationError" not in json.dumps(op), (method, path)
        assert {"400", "429", "503"} <= codes, (method, path, codes)
        if name != "iam" or path not in ("/jwks.json", "/.well-known/oauth-authorization-server"):
            assert "401" in codes, (method, path, codes)
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)
    # The loader finds no error in any operation (undeclared parameters, bad references).
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        result.ok()


def test_the_iam_documents_its_oauth_endpoints(served: Served) -> None:
    _, dep = served
    paths = app_of(dep, "iam").openapi()["paths"]
    form = "application/x-www-form-urlencoded"
    for path in ("/token", "/introspect", "/revoke"):
        body = paths[path]["post"]["requestBody"]["content"][form]["schema"]
        assert "client_assertion" in body["properties"], path
        assert paths[path]["post"]["responses"]["401"]["headers"]["WWW-Authenticate"]
    token = paths["/token"]["post"]
    assert token["requestBody"]["content"][form]["schema"]["required"] == ["grant_type"]
    assert {"DPoP", "Authorization"} <= {p["name"] for p in token["parameters"]}
    assert token["responses"]["200"]["content"]["application/json"]["schema"]["required"]
    error = token["responses"]["400"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error"]  # RFC 6749 §5.2
    authorize = paths["/authorize"]["get"]
    assert {"client_id", "code_challenge", "redirect_uri", "state"} <= {
        p["name"] for p in authorize["parameters"]
    }
    assert "303" in authorize["responses"]
    scim = paths["/scim/v2/Users/{resource_id}"]["get"]["responses"]["404"]["content"]
    assert scim["application/scim+json"]["schema"]["required"] == ["schemas", "status"]


@pytest.mark.parametrize("name", APPS)
def test_docs_are_served_offline(served: Served, name: str) -> None:
    portal, dep = served
    base = dep.issuer if name == "iam" else dep.resource(name)

    async def fetch() -> list[tuple[str, int, str, str]]:
        page = await dep.http.get(f"{base}/docs")
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assets += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
        out = [("/docs", page.status_code, page.headers["content-type"], page.text)]
        for asset in assets:
            got = await dep.http.get(f"{base}/{asset}")
            out.append((asset, got.status_code, got.headers.get("content-type", ""), ""))
        return out

    (_, status, kind, html), *assets = portal.call(fetch)
    assert status == 200 and kind.startswith("text/html")
    assert not re.search(r"""(?:src|href|url)\s*[=:]\s*["']https?://""", html), html
    assert "cdn" not in html.lower()
    fetched = {a: (s, k) for a, s, k, _ in assets}
    assert "openapi.json" in fetched and fetched["openapi.json"][0] == 200
    assert any(a.endswith("swagger-ui-bundle.js") for a in fetched)
    assert all(s == 200 for s, _ in fetched.values()), fetched


@pytest.fixture
def document(served: Served, name: str) -> str:
    _, dep = served
    return json.dumps(app_of(dep, name).openapi(), sort_keys=True)


@pytest.fixture
def tokens(served: Served, name: str) -> list[str | None]:
    portal, dep = served
    return portal.call(tokens_for, dep, name)


def _conformance(
    served: Served, name: str, document: str, tokens: list[str | None], data: st.DataObject
) -> None:
    portal, dep = served
    case = data.draw(cases(document), label="case")
    token = data.draw(st.sampled_from(tokens), label="token")
    if case.path == "/events/poll":
        token = None  # a receiver's poll waits up to 10 s for events: refused here at once
    response = portal.call(send, dep, name, case, token)
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("name", APPS)
@BOUNDED
@given(data=st.data())
def test_schemathesis_finds_no_conformance_error(
    served: Served, name: str, document: str, tokens: list[str | None], data: st.DataObject
) -> None:
    _conformance(served, name, document, tokens, data)


@pytest.mark.slow
@pytest.mark.skipif(
    settings.default.max_examples < 200, reason="a long run: HYPOTHESIS_PROFILE=ci or deep"
)
@pytest.mark.parametrize("name", APPS)
@LONG
@given(data=st.data())
def test_schemathesis_finds_no_conformance_error_in_a_long_run(
    served: Served, name: str, document: str, tokens: list[str | None], data: st.DataObject
) -> None:
    _conformance(served, name, document, tokens, data)
