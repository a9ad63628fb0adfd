"""SCIM 2.0 over HTTP: users, agents and the discovery endpoints (RFC 7644).

Routes, relative to the mount point (``/scim/v2``)::

    GET    /ServiceProviderConfig                 RFC 7644 §4, RFC 7643 §5
    GET    /Schemas, /Schemas/{urn}               RFC 7644 §4, RFC 7643 §7
    GET    /ResourceTypes, /ResourceTypes/{name}  RFC 7644 §4, RFC 7643 §6
    GET    /Users, /Agents                        §3.4.2  filter, sortBy, startIndex, count
    POST   /Users/.search, /Agents/.search        §3.4.3
    POST   /Users, /Agents                        §3.3    201, Location, ETag
    GET    /Users/{id}, /Agents/{id}              §3.4.1
    PUT    /Users/{id}, /Agents/{id}              §3.5.1
    PATCH  /Users/{id}, /Agents/{id}              §3.5.2  add, replace, remove
    DELETE /Users/{id}, /Agents/{id}              §3.6    204

scim2-models parses everything a client sends: resources, PATCH operations and their paths,
filters (the whole §3.4.2.2 grammar, attribute names checked against the schema), sorting and
pagination; this module adds the protocol around it (:mod:`iam_core.scim_resources` holds the
schemas and their mapping to the registry).

Every route, discovery included, needs an access token of this issuer with the ``scim:admin``
scope (RFC 7644 §2; RFC 6750 §2.1). §4 lets discovery go unauthenticated, but the schemas and
resource types name every attribute an attacker could aim at, and only administrators need them.

Every answer but 204 is ``application/scim+json``; every refusal is a SCIM Error (§3.12), never
a 500 or a FastAPI 422, and is audited as ``scim.<kind>.refused``. Every change is audited as
``scim.<kind>.created|updated|replaced|deleted``; passwords and key material never are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    ListResponse,
    Meta,
    PreconditionFailedException,
    Resource,
    ResourceType,
    Schema,
    SCIMException,
)
from starlette.concurrency import run_in_threadpool

from iam_core.audit import AuditEvent, Outcome
from iam_core.errors import InsufficientScope, InvalidToken, OAuthError, ScimError
from iam_core.iam import IAM
from iam_core.policy import format_scope
from iam_core.scim_resources import (
    DEFAULT_PAGE_SIZE,
    MAX_RESULTS,
    PROVIDER,
    AgentBackend,
    Change,
    ResourceBackend,
    UserBackend,
)
from iam_core.tokens import Token

SCIM_MEDIA_TYPE = "application/scim+json"
SCIM_SCOPE = "scim:admin"
MAX_BODY_BYTES = 256 * 1024
_BODY_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json"})
_SEARCH_PARAMETERS = (
    "filter",
    "sortBy",
    "sortOrder",
    "startIndex",
    "count",
    "attributes",
    "excludedAttributes",
)
_DISCOVERY = ("ServiceProviderConfig", "Schemas", "ResourceTypes")
_META_SCHEMA = """
CREATE TABLE IF NOT EXISTS scim_meta (
    id TEXT PRIMARY KEY, version TEXT NOT NULL, last_modified REAL NOT NULL
);
"""

Backend = ResourceBackend[Any]
Work = Callable[["Call"], Response]


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized request: what the handlers need, read once."""

    request: Request
    body: bytes
    caller: Token

    def parameter(self, name: str) -> str | None:
        values = self.request.query_params.getlist(name)
        if len(values) > 1:
            raise ScimError(400, f"{name} is given {len(values)} times", "invalidValue")
        return values[0] if values else None

    def payload(self, model: Any, context: Context) -> Any:
        """The body validated as ``model`` in ``context`` (RFC 7644 §3.1; RFC 7643 §3)."""
        media_type = self.request.headers.get("content-type", SCIM_MEDIA_TYPE)
        if media_type.split(";")[0].strip().lower() not in _BODY_MEDIA_TYPES:
            raise ScimError(415, f"send {SCIM_MEDIA_TYPE} or application/json")
        if len(self.body) > MAX_BODY_BYTES:
            raise ScimError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        parsed = model.model_validate_json(self.body, scim_ctx=context)
        if not parsed.schemas:
            raise ScimError(400, "schemas is required (RFC 7643 §3)", "invalidSyntax")
        return parsed


def scim_router(iam: IAM) -> APIRouter:
    """The SCIM 2.0 service of ``iam`` (RFC 7644), to be mounted at ``/scim/v2``."""
    service = ScimService(iam)
    router = APIRouter()
    for backend in (UserBackend(iam), AgentBackend(iam)):
        _resource_routes(router, service, backend)
    _discovery_routes(router, service)

    @router.api_route(
        "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def unknown_endpoint(request: Request, rest: str) -> Response:
        known = rest.split("/")[0] in ("Users", "Agents", *_DISCOVERY)
        status, detail = (405, "method not allowed here") if known else (404, "no such endpoint")
        return await service.serve(request, "endpoint", lambda call: _refuse(status, detail))

    return router


def _refuse(status: int, detail: str) -> Response:
    raise ScimError(status, detail)


def _resource_routes(router: APIRouter, service: ScimService, backend: Backend) -> None:
    collection, noun = f"/{backend.endpoint}", backend.noun
    one = f"{collection}/{{resource_id}}"

    @router.get(collection, name=f"scim_{noun}_list")
    async def query(request: Request) -> Response:
        return await service.serve(request, noun, lambda call: service.search(call, backend))

    @router.post(f"{collection}/.search", name=f"scim_{noun}_search")
    async def search(request: Request) -> Response:
        return await service.serve(
            request, noun, lambda call: service.search(call, backend, from_body=True)
        )

    @router.post(collection, name=f"scim_{noun}_create")
    async def create(request: Request) -> Response:
        return await service.serve(request, noun, lambda call: service.create(call, backend))

    @router.get(one, name=f"scim_{noun}")
    async def read(request: Request, resource_id: str) -> Response:
        return await service.serve(
            request, noun, lambda call: service.read(call, backend, resource_id)
        )

    @router.put(one, name=f"scim_{noun}_replace")
    async def replace(request: Request, resource_id: str) -> Response:
        return await service.serve(
            request, noun, lambda call: service.write(call, backend, resource_id, replacing=True)
        )

    @router.patch(one, name=f"scim_{noun}_patch")
    async def patch(request: Request, resource_id: str) -> Response:
        return await service.serve(
            request, noun, lambda call: service.write(call, backend, resource_id, replacing=False)
        )

    @router.delete(one, name=f"scim_{noun}_delete")
    async def delete(request: Request, resource_id: str) -> Response:
        return await service.serve(
            request, noun, lambda call: service.delete(call, backend, resource_id)
        )


def _discovery_routes(router: APIRouter, service: ScimService) -> None:
    @router.get("/ServiceProviderConfig", name="scim_service_provider_config")
    async def config(request: Request) -> Response:
        return await service.serve(request, "discovery", service.service_provider_config)

    @router.get("/Schemas", name="scim_schemas")
    async def schemas(request: Request) -> Response:
        return await service.serve(request, "discovery", lambda call: service.schemas(call, None))

    @router.get("/Schemas/{schema_id}", name="scim_schema")
    async def schema(request: Request, schema_id: str) -> Response:
        return await service.serve(
            request, "discovery", lambda call: service.schemas(call, schema_id)
        )

    @router.get("/ResourceTypes", name="scim_resource_types")
    async def resource_types(request: Request) -> Response:
        return await service.serve(
            request, "discovery", lambda call: service.resource_types(call, None)
        )

    @router.get("/ResourceTypes/{name}", name="scim_resource_type")
    async def resource_type(request: Request, name: str) -> Response:
        return await service.serve(
            request, "discovery", lambda call: service.resource_types(call, name)
        )


class ScimService:
    """The protocol: authorization, errors, meta and versions, auditing (RFC 7644)."""

    def __init__(self, iam: IAM) -> None:
        self.iam = iam
        iam.store.ensure_schema(_META_SCHEMA)

    # -- plumbing ------------------------------------------------------------------------
    async def serve(self, request: Request, noun: str, work: Work) -> Response:
        """Read the body, then authorize and run ``work`` off the event loop (SQLite, Argon2)."""
        body = await request.body()
        handled: Awaitable[Response] = run_in_threadpool(self._handle, request, body, noun, work)
        return await handled

    def _handle(self, request: Request, body: bytes, noun: str, work: Work) -> Response:
        header = request.headers.get("authorization")
        try:
            caller = self.iam.authorize_bearer(header, SCIM_SCOPE)
        except InvalidToken as exc:
            self._refused(request, noun, None, 401, exc.description)
            challenge = f'Bearer error="invalid_token", error_description="{_quoted(exc)}"'
            return _error(401, exc.description, headers={"WWW-Authenticate": challenge})
        except InsufficientScope as exc:
            self._refused(request, noun, self._token_of(header), 403, exc.description)
            challenge = (
                f'Bearer error="insufficient_scope", error_description="{_quoted(exc)}", '
                f'scope="{SCIM_SCOPE}"'
            )
            return _error(403, exc.description, headers={"WWW-Authenticate": challenge})
        try:
            return work(Call(request, body, caller))
        except ValidationError as exc:
            error = Error.from_validation_errors(exc)[0]
            status, scim_type, detail = error.status or 400, error.scim_type, error.detail or ""
        except SCIMException as exc:
            status, scim_type, detail = exc.status, exc.scim_type or None, _first_line(exc)
        except ScimError as exc:
            status, scim_type, detail = exc.status, exc.scim_type, exc.detail
        self._refused(request, noun, caller, status, detail, scim_type)
        return _error(status, detail, scim_type)

    def _token_of(self, header: str | None) -> Token | None:
        # Only reached after authorize_bearer verified this very token: it names the caller.
        try:
            return self.iam.verify_active((header or "")[7:].strip(), audience=self.iam.issuer)
        except OAuthError:
            return None

    def _audit(
        self,
        request: Request,
        event: str,
        caller: Token | None,
        outcome: Outcome,
        reason: str,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.iam.record(
            AuditEvent(
                event=event,
                outcome=outcome,
                reason=reason[:300],
                sub=caller.sub if caller else None,
                act=caller.actors if caller else (),
                client_id=caller.client_id if caller else None,
                token_type=caller.token_type.value if caller else None,
                jti=caller.jti if caller else None,
                scope=format_scope(caller.scopes) if caller else None,
                method=request.method,
                path=request.url.path,
                object_id=object_id,
                details=details or {},
            )
        )

    def _audit_change(self, call: Call, backend: Backend, verb: str, change: Change) -> None:
        reason = f"{backend.noun} {change.object_id} {verb} over SCIM"
        event = f"scim.{backend.noun}.{verb}"
        self._audit(
            call.request, event, call.caller, "allowed", reason, change.object_id, change.details
        )

    def _refused(
        self,
        request: Request,
        noun: str,
        caller: Token | None,
        status: int,
        detail: str,
        scim_type: str | None = None,
    ) -> None:
        details = {"status": status, "scim_type": scim_type}
        target = request.path_params.get("resource_id")
        self._audit(request, f"scim.{noun}.refused", caller, "denied", detail, target, details)

    # -- resources (RFC 7644 §3.3-§3.6) --------------------------------------------------
    def search(self, call: Call, backend: Backend, *, from_body: bool = False) -> Response:
        """List, filter, sort and page (RFC 7644 §3.4.2, §3.4.3)."""
        if from_body:
            request = call.payload(backend.search_request, Context.SEARCH_REQUEST)
        else:
            parameters = {k: v for k in _SEARCH_PARAMETERS if (v := call.parameter(k)) is not None}
            request = backend.search_request.model_validate(
                parameters, scim_ctx=Context.SEARCH_REQUEST
            )
        matches = [
            resource
            for resource in backend.resources()
            if request.filter is None or request.filter.match(self._stamp(call, backend, resource))
        ]
        matches = request.sort(matches)
        start = request.start_index_0 or 0
        count = min(DEFAULT_PAGE_SIZE if request.count is None else request.count, MAX_RESULTS)
        page = [self._stamp(call, backend, resource) for resource in matches[start : start + count]]
        listing = backend.list_response(
            total_results=len(matches),
            start_index=start + 1,
            items_per_page=len(page),
            resources=page,
        )
        return _json(
            listing.model_dump(
                mode="json", scim_ctx=Context.SEARCH_RESPONSE, response_parameters=request
            )
        )

    def read(self, call: Call, backend: Backend, resource_id: str) -> Response:
        """Retrieve one resource (RFC 7644 §3.4.1)."""
        resource = self._stamp(call, backend, self._existing(backend, resource_id))
        return self._resource_response(call, backend, resource, Context.RESOURCE_QUERY_RESPONSE)

    def create(self, call: Call, backend: Backend) -> Response:
        """Create a resource (RFC 7644 §3.3): 201 with Location and ETag."""
        resource = call.payload(backend.model, Context.RESOURCE_CREATION_REQUEST)
        change = backend.create(resource, by=call.caller.sub)
        created = self._existing(backend, change.object_id)
        assert created.meta is not None
        assert created.meta.created is not None
        created = self._stamp(call, backend, created, modified_at=created.meta.created.timestamp())
        self._audit_change(call, backend, "created", change)
        response = self._resource_response(
            call, backend, created, Context.RESOURCE_CREATION_RESPONSE, status=201
        )
        response.headers["Location"] = str(self._location(call, backend, change.object_id))
        return response

    def write(self, call: Call, backend: Backend, resource_id: str, *, replacing: bool) -> Response:
        """Replace (PUT, RFC 7644 §3.5.1) or modify (PATCH, §3.5.2) a resource."""
        before = self._stamp(call, backend, self._existing(backend, resource_id))
        self._check_version(call, before)
        after = backend.patch_target(before)
        if replacing:
            after = call.payload(backend.model, Context.RESOURCE_REPLACEMENT_REQUEST)
            # Copies read-only attributes, refuses a changed immutable one (userName, agentId).
            after.replace(before)
        else:
            operations = call.payload(backend.patch_op, Context.RESOURCE_PATCH_REQUEST)
            operations.patch(after)
        change = backend.update(before, after, by=call.caller.sub)
        written = self._stamp(
            call, backend, self._existing(backend, resource_id), modified_at=self.iam.clock.now()
        )
        self._audit_change(call, backend, "replaced" if replacing else "updated", change)
        context = (
            Context.RESOURCE_REPLACEMENT_RESPONSE if replacing else Context.RESOURCE_PATCH_RESPONSE
        )
        return self._resource_response(call, backend, written, context)

    def delete(self, call: Call, backend: Backend, resource_id: str) -> Response:
        """Delete a resource (RFC 7644 §3.6): 204; the identity's tokens are revoked first."""
        resource = self._stamp(call, backend, self._existing(backend, resource_id))
        self._check_version(call, resource)
        change = backend.delete(resource, by=call.caller.sub)
        self.iam.store.execute("DELETE FROM scim_meta WHERE id = ?", (resource_id,))
        self._audit_change(call, backend, "deleted", change)
        return Response(status_code=204)

    def _existing(self, backend: Backend, resource_id: str) -> Resource[Any]:
        resource: Resource[Any] | None = backend.get(resource_id)
        if resource is None:
            raise ScimError(404, f"{backend.resource_type} {resource_id[:128]!r} not found")
        return resource

    def _check_version(self, call: Call, resource: Resource[Any]) -> None:
        """``If-Match`` against the current version (RFC 7644 §3.14): 412 when it moved on."""
        wanted = call.request.headers.get("if-match")
        if wanted is None or wanted.strip() == "*":
            return
        assert resource.meta is not None
        if resource.meta.version not in {tag.strip() for tag in wanted.split(",")}:
            raise PreconditionFailedException(detail="the resource changed: read it again")

    def _stamp(
        self,
        call: Call,
        backend: Backend,
        resource: Resource[Any],
        *,
        modified_at: float | None = None,
    ) -> Resource[Any]:
        """Fill ``meta`` (RFC 7643 §3.1); the version is a digest of the resource's content.

        ``lastModified`` is recorded with each SCIM write; a change made elsewhere (the admin
        console blocking an agent) moves the version, and is dated when first seen here.
        """
        assert resource.meta is not None
        assert resource.meta.created is not None
        resource_id = str(resource.id)
        content = resource.model_dump(mode="json", exclude={"meta"})
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        version = f'W/"{digest[:20]}"'
        row = self.iam.store.one(
            "SELECT version, last_modified FROM scim_meta WHERE id = ?", (resource_id,)
        )
        if modified_at is None and row is not None and row["version"] == version:
            modified_at = float(row["last_modified"])
        else:
            if modified_at is None:
                modified_at = self.iam.clock.now() if row else resource.meta.created.timestamp()
            self.iam.store.execute(
                "INSERT OR REPLACE INTO scim_meta VALUES (?, ?, ?)",
                (resource_id, version, modified_at),
            )
        resource.meta = Meta(
            resource_type=backend.resource_type,
            created=resource.meta.created,
            last_modified=_datetime(modified_at),
            location=str(self._location(call, backend, resource_id)),
            version=version,
        )
        return resource

    def _location(self, call: Call, backend: Backend, resource_id: str) -> str:
        return str(call.request.url_for(f"scim_{backend.noun}", resource_id=resource_id))

    def _resource_response(
        self,
        call: Call,
        backend: Backend,
        resource: Resource[Any],
        context: Context,
        *,
        status: int = 200,
    ) -> Response:
        """One resource, with ``attributes``/``excludedAttributes`` applied (RFC 7644 §3.9)."""
        parameters = {
            k: v for k in ("attributes", "excludedAttributes") if (v := call.parameter(k))
        }
        selection = backend.response_parameters.model_validate(parameters)
        body = resource.model_dump(mode="json", scim_ctx=context, response_parameters=selection)
        assert resource.meta is not None
        assert resource.meta.version is not None
        return _json(body, status, {"ETag": resource.meta.version})

    # -- discovery (RFC 7644 §4) ---------------------------------------------------------
    def service_provider_config(self, call: Call) -> Response:
        """The service's capabilities (RFC 7643 §5); ``filter`` is ignored, as §4 asks."""
        assert PROVIDER.config is not None
        config = PROVIDER.config.model_copy(
            update={"meta": self._discovery_meta(call, "ServiceProviderConfig", None)}
        )
        return _json(config.model_dump(mode="json", scim_ctx=Context.RESOURCE_QUERY_RESPONSE))

    def schemas(self, call: Call, schema_id: str | None) -> Response:
        """The schemas (RFC 7643 §7): User and Agent."""
        listed = [
            schema.model_copy(update={"meta": self._discovery_meta(call, "Schema", schema.id)})
            for schema in PROVIDER.schemas
        ]
        return self._discovery_listing(call, listed, schema_id, ListResponse[Schema])

    def resource_types(self, call: Call, name: str | None) -> Response:
        """The resource types (RFC 7643 §6): User at /Users, Agent at /Agents."""
        listed = [
            kind.model_copy(update={"meta": self._discovery_meta(call, "ResourceType", kind.id)})
            for kind in PROVIDER.resource_types
        ]
        return self._discovery_listing(call, listed, name, ListResponse[ResourceType])

    def _discovery_listing(
        self, call: Call, listed: list[Any], wanted: str | None, listing: Any
    ) -> Response:
        if call.parameter("filter") is not None:
            # RFC 7644 §4: a filter here SHOULD get 403, lest clients think it was applied.
            raise ScimError(403, "discovery endpoints do not take a filter")
        context = Context.RESOURCE_QUERY_RESPONSE
        if wanted is not None:
            for item in listed:
                if item.id == wanted:
                    return _json(item.model_dump(mode="json", scim_ctx=context))
            raise ScimError(404, f"{wanted[:128]!r} not found")
        response = listing(
            total_results=len(listed), start_index=1, items_per_page=len(listed), resources=listed
        )
        return _json(response.model_dump(mode="json", scim_ctx=context))

    def _discovery_meta(self, call: Call, resource_type: str, item_id: str | None) -> Meta:
        if resource_type == "ServiceProviderConfig":
            location = call.request.url_for("scim_service_provider_config")
        elif resource_type == "Schema":
            location = call.request.url_for("scim_schema", schema_id=str(item_id))
        else:
            location = call.request.url_for("scim_resource_type", name=str(item_id))
        return Meta(resource_type=resource_type, location=str(location))


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type=SCIM_MEDIA_TYPE, headers=headers
    )


def _error(
    status: int,
    detail: str,
    scim_type: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """A SCIM Error message (RFC 7644 §3.12): ``status`` as a string, ``scimType``, ``detail``."""
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _json(error.model_dump(mode="json"), status, headers)


def _quoted(exc: OAuthError) -> str:
    # RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E, no quote or backslash.
    return "".join(c for c in exc.description if c.isascii() and c.isprintable() and c not in '"\\')


def _first_line(exc: SCIMException) -> str:
    """The message of an error raised while applying a patch, without pydantic's decoration."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ValidationError):
        return Error.from_validation_errors(cause)[0].detail or exc.detail
    return exc.detail


def _datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
