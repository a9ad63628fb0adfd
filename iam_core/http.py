"""HTTP plumbing shared by the IAM's routes: strict form parsing and OAuth error responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from iam_core.errors import BearerError, InvalidClient, InvalidRequest, OAuthError
from iam_core.safe_json import JSONRefused, loads_object

MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; repeated parameters are refused (§3.2)."""
    content_type = request.headers.get("content-type", "")
    if not is_form(content_type):
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    return parse_form(await request.body())


def is_form(content_type: str) -> bool:
    """Whether a ``Content-Type`` value is ``application/x-www-form-urlencoded``."""
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def parse_form(body: bytes) -> dict[str, str]:
    """The parameters of a form body (:func:`read_form`), empty values dropped."""
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


async def read_json_object(request: Request) -> dict[str, Any]:
    """A JSON object body, at most ``MAX_FORM_BYTES``, read by the bounded parser
    (:mod:`iam_core.safe_json`); anything else is invalid_request."""
    return parse_json_object(await request.body())


def parse_json_object(body: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request body as a JSON object (``empty`` stands for an empty body, if given)."""
    if not body and empty is not None:
        return empty
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("request body too large")
    try:
        return loads_object(body, max_bytes=MAX_FORM_BYTES)
    except JSONRefused as exc:
        raise InvalidRequest(f"the body must be a JSON object: {exc}") from exc


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
    elif isinstance(exc, BearerError) and exc.status in (401, 403):
        # RFC 6750 §3 for the IAM's own protected APIs; the token endpoint's 400 and 429
        # answers are RFC 6749 §5.2 errors, without a challenge.
        headers["WWW-Authenticate"] = exc.www_authenticate()
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
