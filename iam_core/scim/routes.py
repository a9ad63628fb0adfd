"""SCIM 2.0 over HTTP: the FastAPI router for users, agents and discovery (RFC 7644).

Routes, relative to the mount point (``/scim/v2``)::

    GET    /ServiceProviderConfig                 RFC 7644 §4, RFC 7643 §5
    GET    /Schemas, /Schemas/{urn}               RFC 7644 §4, RFC 7643 §7
    GET    /ResourceTypes, /ResourceTypes/{name}  RFC 7644 §4, RFC 7643 §6
    GET    /Users, /Agents                        §3.4.2  filter, sortBy, startIndex, count
    POST   /Users/.search, /Agents/.search        §3.4.3
    POST   /Users, /Agents                        §3.3    201, Location, ETag
    GET    /Users/{id}, /Agents/{id}              §3.4.1
    PUT    /Users/{id}, /Agents/{id}              §3.5.1  If-Match honoured (§3.14)
    PATCH  /Users/{id}, /Agents/{id}              §3.5.2  add, replace, remove; If-Match
    DELETE /Users/{id}, /Agents/{id}              §3.6    204; If-Match

The operations are :class:`iam_core.scim.service.ScimService`'s; this module authorizes each
request and answers every refusal.

Every route, discovery included, needs an access token of this issuer with the ``scim:admin``
scope (RFC 7644 §2; RFC 6750 §2.1). §4 lets discovery go unauthenticated, but the schemas and
resource types name every attribute an attacker could aim at, and only administrators need them.

Every answer but 204 is ``application/scim+json``; every refusal is a SCIM Error (§3.12), never
a 500 or a FastAPI 422, and is audited as ``scim.<kind>.refused``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from scim2_models import Error, SCIMException
from starlette.concurrency import run_in_threadpool

from iam_core.audit import AuditEvent
from iam_core.errors import InsufficientScope, InvalidToken, OAuthError, ScimError
from iam_core.iam import IAM
from iam_core.scim.adapter import AgentBackend, UserBackend
from iam_core.scim.service import AuthorizedRequest, ScimService, scim_response
from iam_core.tokens import Token

SCIM_SCOPE = "scim:admin"
Work = Callable[[AuthorizedRequest], Response]
_ENDPOINTS = ("Users", "Agents", "ServiceProviderConfig", "Schemas", "ResourceTypes")


def scim_router(iam: IAM) -> APIRouter:
    """The SCIM 2.0 service of ``iam`` (RFC 7644), to be mounted at ``/scim/v2``."""
    service = ScimService(iam)
    gate = ScimGate(service)
    router = APIRouter()
    for backend in (UserBackend(iam), AgentBackend(iam)):
        noun, base = backend.noun, f"/{backend.endpoint}"
        one = f"{base}/{{resource_id}}"
        for method, path, name, handler in (
            ("GET", base, f"scim_{noun}_list", service.search),
            ("POST", f"{base}/.search", f"scim_{noun}_search", service.search_posted),
            ("POST", base, f"scim_{noun}_create", service.create),
            ("GET", one, f"scim_{noun}", service.read),
            ("PUT", one, f"scim_{noun}_replace", service.replace),
            ("PATCH", one, f"scim_{noun}_patch", service.patch),
            ("DELETE", one, f"scim_{noun}_delete", service.delete),
        ):
            endpoint = gate.endpoint(noun, partial(handler, backend=backend))
            router.add_api_route(path, endpoint, methods=[method], name=name)
    for path, name, discovery in (
        ("/ServiceProviderConfig", "scim_service_provider_config", service.service_provider_config),
        ("/Schemas", "scim_Schemas", service.schemas),
        ("/Schemas/{item_id}", "scim_Schema", service.schemas),
        ("/ResourceTypes", "scim_ResourceTypes", service.resource_types),
        ("/ResourceTypes/{item_id}", "scim_ResourceType", service.resource_types),
    ):
        router.add_api_route(path, gate.endpoint("discovery", discovery), name=name)
    # Anything else under the mount point still answers a SCIM Error (RFC 7644 §3.12).
    router.add_api_route(
        "/{rest:path}",
        gate.endpoint("endpoint", _unknown_endpoint),
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return router


def _unknown_endpoint(call: AuthorizedRequest) -> Response:
    if call.request.path_params["rest"] == ".search" and call.request.method == "POST":
        # RFC 7644 §3.4.3 root search across resource types; §3.12 501 for what is not done.
        raise ScimError(501, "searching several resource types at once is not supported")
    if str(call.request.path_params["rest"]).split("/")[0] in _ENDPOINTS:
        raise ScimError(405, f"{call.request.method} is not allowed here")
    raise ScimError(404, "no such endpoint")


class ScimGate:
    """Authorization and refusals around the operations (RFC 7644 §2, §3.12)."""

    def __init__(self, service: ScimService) -> None:
        self.service = service
        self.iam = service.iam

    def endpoint(self, noun: str, work: Work) -> Callable[[Request], Awaitable[Response]]:
        """A route that reads the body, then authorizes and runs ``work`` in a worker thread.

        The work is synchronous (SQLite, Argon2); the thread keeps it off the event loop.
        """

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            return await run_in_threadpool(self._handle, request, body, noun, work)

        return endpoint

    def _handle(self, request: Request, body: bytes, noun: str, work: Work) -> Response:
        header = request.headers.get("authorization")
        try:
            caller = self.iam.authorize_bearer(header, SCIM_SCOPE)
        except InvalidToken as exc:
            error = Error(status=401, detail=exc.description)
            return self._refuse(request, noun, None, error, exc.www_authenticate())
        except InsufficientScope as exc:
            error = Error(status=403, detail=exc.description)
            return self._refuse(
                request, noun, self._token_of(header), error, exc.www_authenticate()
            )
        try:
            return work(AuthorizedRequest(request, body, caller))
        except ValidationError as exc:
            error = Error.from_validation_errors(exc)[0]
        except SCIMException as exc:
            error = Error(status=exc.status, scim_type=exc.scim_type or None, detail=_detail(exc))
        except ScimError as exc:
            error = Error(status=exc.status, scim_type=exc.scim_type, detail=exc.detail)
        return self._refuse(request, noun, caller, error)

    def _refuse(
        self, request: Request, noun: str, caller: Token | None, error: Error, challenge: str = ""
    ) -> Response:
        """Audit a refusal and answer it as a SCIM Error (RFC 7644 §3.12), never a 500."""
        status, detail = error.status or 400, error.detail or ""
        details = {"status": status, "scim_type": error.scim_type}
        target = request.path_params.get("resource_id")
        event = AuditEvent(
            f"scim.{noun}.refused", "denied", detail[:300], object_id=target, details=details
        )
        self.service.audit(request, caller, event)
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return scim_response(error.model_dump(mode="json"), status, headers)

    def _token_of(self, header: str | None) -> Token | None:
        # Only reached after authorize_bearer verified this very token: it names the caller.
        try:
            return self.iam.verify_active((header or "")[7:].strip(), audience=self.iam.issuer)
        except OAuthError:
            return None


def _detail(exc: SCIMException) -> str:
    """The message of an error raised while applying a patch, without pydantic's decoration."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ValidationError):
        return Error.from_validation_errors(cause)[0].detail or exc.detail
    return exc.detail
