"""The SCIM operations (RFC 7644 §3): create, read, list and filter, replace, patch, delete.

scim2-models parses everything a client sends: resources, PATCH operations and their paths,
filters (the whole §3.4.2.2 grammar, attribute names checked against the schema), sorting and
paging parameters; this module adds the protocol around it, over the backends of
:mod:`iam_core.scim.adapter`. Every response honours ``attributes``/``excludedAttributes``
(§3.9). ``meta.version`` is a weak ETag over the resource's content; ``meta.lastModified`` is
kept in the ``scim_meta`` table. Every change is audited as
``scim.<kind>.created|updated|replaced|deleted``; passwords and key material never are.

:mod:`iam_core.scim.routes` authorizes each request and turns what these operations raise
into SCIM Errors (§3.12).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from scim2_models import (
    Context,
    ListResponse,
    Meta,
    PreconditionFailedException,
    Resource,
    ResourceType,
    Schema,
)

from iam_core.audit import AuditEvent
from iam_core.errors import ScimError
from iam_core.iam import IAM
from iam_core.policy import format_scope
from iam_core.safe_json import JSONRefused
from iam_core.safe_json import loads as bounded_json
from iam_core.scim.adapter import Change, ResourceBackend
from iam_core.scim.schemas import DEFAULT_PAGE_SIZE, MAX_RESULTS, PROVIDER
from iam_core.tokens import Token

SCIM_MEDIA_TYPE = "application/scim+json"
MAX_BODY_BYTES = 256 * 1024
_BODY_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json"})
_RESPONSE_PARAMETERS = ("attributes", "excludedAttributes")
_SEARCH_PARAMETERS = ("filter", "sortBy", "sortOrder", "startIndex", "count", *_RESPONSE_PARAMETERS)
_META_SCHEMA = """
CREATE TABLE IF NOT EXISTS scim_meta (
    id TEXT PRIMARY KEY, version TEXT NOT NULL, last_modified REAL NOT NULL
);
"""

Backend = ResourceBackend[Any]


@dataclass(frozen=True, slots=True)
class AuthorizedRequest:
    """One authorized request: what the handlers need, read once."""

    request: Request
    body: bytes
    caller: Token

    @property
    def resource_id(self) -> str:
        return str(self.request.path_params["resource_id"])

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
        try:  # the bounded parser first (iam_core.safe_json): depth, duplicate names
            bounded_json(self.body, max_bytes=MAX_BODY_BYTES)
        except JSONRefused as exc:
            raise ScimError(400, f"the body is not accepted JSON: {exc}", "invalidSyntax") from exc
        parsed = model.model_validate_json(self.body, scim_ctx=context)
        if not parsed.schemas:
            raise ScimError(400, "schemas is required (RFC 7643 §3)", "invalidSyntax")
        return parsed


class ScimService:
    """The protocol: authorization, errors, meta and versions, auditing (RFC 7644)."""

    def __init__(self, iam: IAM) -> None:
        self.iam = iam
        iam.store.ensure_schema(_META_SCHEMA)

    def audit(self, request: Request, caller: Token | None, event: AuditEvent) -> None:
        """Record ``event`` with the caller's token claims and the request, never the token."""
        if caller is not None:
            event = replace(
                event,
                sub=caller.sub,
                act=caller.actors,
                client_id=caller.client_id,
                jti=caller.jti,
                token_type=caller.token_type.value,
                scope=format_scope(caller.scopes),
            )
        self.iam.record(replace(event, method=request.method, path=request.url.path))

    def _audit_change(
        self, call: AuthorizedRequest, backend: Backend, verb: str, change: Change
    ) -> None:
        reason = f"{backend.noun} {change.object_id} {verb} over SCIM"
        event = AuditEvent(
            f"scim.{backend.noun}.{verb}",
            "allowed",
            reason,
            object_id=change.object_id,
            details=change.details,
        )
        self.audit(call.request, call.caller, event)

    # -- resources (RFC 7644 §3.3-§3.6) --------------------------------------------------
    def search(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """List with filter, sortBy, startIndex and count as query parameters (§3.4.2)."""
        parameters = {k: v for k in _SEARCH_PARAMETERS if (v := call.parameter(k)) is not None}
        request = backend.search_request.model_validate(parameters, scim_ctx=Context.SEARCH_REQUEST)
        return self._listing(call, backend, request)

    def search_posted(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """List with a SearchRequest body (RFC 7644 §3.4.3)."""
        request = call.payload(backend.search_request, Context.SEARCH_REQUEST)
        return self._listing(call, backend, request)

    def _listing(self, call: AuthorizedRequest, backend: Backend, request: Any) -> Response:
        """Filter, sort and page (RFC 7644 §3.4.2.2-§3.4.2.4); count is capped at MAX_RESULTS."""
        # Stamped first, so that filters and sortBy on meta.lastModified see it.
        resources = [self._stamp(call, backend, resource) for resource in backend.resources()]
        matches = request.sort(
            [r for r in resources if not request.filter or request.filter.match(r)]
        )
        start = request.start_index_0 or 0
        count = min(DEFAULT_PAGE_SIZE if request.count is None else request.count, MAX_RESULTS)
        page = matches[start : start + count]
        listing = backend.list_response(
            total_results=len(matches),
            start_index=start + 1,
            items_per_page=len(page),
            resources=page,
        )
        return scim_response(
            listing.model_dump(
                mode="json", scim_ctx=Context.SEARCH_RESPONSE, response_parameters=request
            )
        )

    def read(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """Retrieve one resource (RFC 7644 §3.4.1)."""
        resource = self._stamp(call, backend, self._existing(backend, call.resource_id))
        return self._resource_response(call, backend, resource, Context.RESOURCE_QUERY_RESPONSE)

    def create(self, call: AuthorizedRequest, backend: Backend) -> Response:
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

    def replace(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """Replace a resource (PUT, RFC 7644 §3.5.1)."""
        return self._write(call, backend, replacing=True)

    def patch(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """Modify a resource (PATCH, RFC 7644 §3.5.2): add, replace and remove."""
        return self._write(call, backend, replacing=False)

    def _write(self, call: AuthorizedRequest, backend: Backend, *, replacing: bool) -> Response:
        resource_id = call.resource_id
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

    def delete(self, call: AuthorizedRequest, backend: Backend) -> Response:
        """Delete a resource (RFC 7644 §3.6): 204; the identity's tokens are revoked first."""
        resource_id = call.resource_id
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

    def _check_version(self, call: AuthorizedRequest, resource: Resource[Any]) -> None:
        """``If-Match`` against the current version (RFC 7644 §3.14): 412 when it moved on."""
        wanted = call.request.headers.get("if-match")
        if wanted is None or wanted.strip() == "*":
            return
        assert resource.meta is not None
        if resource.meta.version not in {tag.strip() for tag in wanted.split(",")}:
            raise PreconditionFailedException(detail="the resource changed: read it again")

    def _stamp(
        self,
        call: AuthorizedRequest,
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
                "INSERT INTO scim_meta VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " version = excluded.version, last_modified = excluded.last_modified",
                (resource_id, version, modified_at),
            )
        owner = getattr(resource, "owner", None)
        if owner is not None and owner.value:
            # RFC 7643 §2.3.7: the owner's URI, like meta.location, under this request's base.
            owner.ref = str(call.request.url_for("scim_user", resource_id=owner.value))
        resource.meta = Meta(
            resource_type=backend.resource_type,
            created=resource.meta.created,
            last_modified=datetime.fromtimestamp(modified_at, UTC),
            location=str(self._location(call, backend, resource_id)),
            version=version,
        )
        return resource

    def _location(self, call: AuthorizedRequest, backend: Backend, resource_id: str) -> str:
        return str(call.request.url_for(f"scim_{backend.noun}", resource_id=resource_id))

    def _resource_response(
        self,
        call: AuthorizedRequest,
        backend: Backend,
        resource: Resource[Any],
        context: Context,
        *,
        status: int = 200,
    ) -> Response:
        """One resource, with ``attributes``/``excludedAttributes`` applied (RFC 7644 §3.9)."""
        parameters = {k: v for k in _RESPONSE_PARAMETERS if (v := call.parameter(k))}
        selection = backend.response_parameters.model_validate(parameters)
        body = resource.model_dump(mode="json", scim_ctx=context, response_parameters=selection)
        assert resource.meta is not None
        assert resource.meta.version is not None
        return scim_response(body, status, {"ETag": resource.meta.version})

    # -- discovery (RFC 7644 §4) ---------------------------------------------------------
    def service_provider_config(self, call: AuthorizedRequest) -> Response:
        """The service's capabilities (RFC 7643 §5); ``filter`` is ignored, as §4 asks."""
        assert PROVIDER.config is not None
        location = str(call.request.url_for("scim_service_provider_config"))
        meta = Meta(resource_type="ServiceProviderConfig", location=location)
        config = PROVIDER.config.model_copy(update={"meta": meta})
        return scim_response(
            config.model_dump(mode="json", scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        )

    def schemas(self, call: AuthorizedRequest) -> Response:
        """The schemas (RFC 7643 §7): User and Agent."""
        return self._discovery(call, "Schema", PROVIDER.schemas, ListResponse[Schema])

    def resource_types(self, call: AuthorizedRequest) -> Response:
        """The resource types (RFC 7643 §6): User at /Users, Agent at /Agents."""
        listing = ListResponse[ResourceType]
        return self._discovery(call, "ResourceType", PROVIDER.resource_types, listing)

    def _discovery(self, call: AuthorizedRequest, kind: str, items: Any, listing: Any) -> Response:
        if call.parameter("filter") is not None:
            # RFC 7644 §4: a filter here SHOULD get 403, lest clients think it was applied.
            raise ScimError(403, "discovery endpoints do not take a filter")
        base = str(call.request.url_for(f"scim_{kind}s"))
        located = [
            item.model_copy(update={"meta": Meta(resource_type=kind, location=f"{base}/{item.id}")})
            for item in items
        ]
        wanted = call.request.path_params.get("item_id")
        if wanted is None:
            count = len(located)
            body = listing(
                total_results=count, start_index=1, items_per_page=count, resources=located
            )
        elif (body := next((item for item in located if item.id == wanted), None)) is None:
            raise ScimError(404, f"{wanted[:128]!r} not found")
        return scim_response(body.model_dump(mode="json", scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def scim_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type=SCIM_MEDIA_TYPE, headers=headers
    )
