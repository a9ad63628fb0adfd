"""Request limits and failure answers shared by the IAM and every protected service.

* :class:`BodyLimit` — a plain ASGI middleware that counts the body while it streams in: a
  ``Content-Length`` over the limit is refused at once, and a chunked (or lying) body is
  refused with 413 as soon as the bytes received pass the limit, whatever the headers said
  (RFC 9110 §15.5.14). The application never holds more than the limit in memory.
* :func:`storage_unavailable` — the answer when the SQL store cannot write or read (disk
  full, read-only file, locked beyond the timeout): a JSON 503 with ``Retry-After``
  (RFC 9110 §15.6.4, §10.2.3). The request's decision is not taken — fail closed.
* :func:`bounded_int` — integer query parameters within a range, else a 400.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iam_core import store as store_errors

if TYPE_CHECKING:
    from iam_core.resource_server.protocols import SQLStore

DEFAULT_MAX_BODY = 64 * 1024
STORAGE_RETRY_AFTER = 30  # seconds

# The driver errors that mean the store is unusable for now, not that a query was wrong.
STORAGE_ERRORS = store_errors.STORAGE_ERRORS


class BodyTooLarge(BaseException):
    """Raised into the application when a streamed body passes the limit.

    A ``BaseException``, so that no application handler of ``Exception`` turns it into a
    500 on the way out: it reaches :class:`BodyLimit`, which answers 413."""


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": "payload_too_large",
            "error_description": f"bodies are limited to {limit} bytes",
        },
        status_code=413,
        headers={"Connection": "close"},
    )


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 while they stream (plain ASGI).

    ``limits`` maps a path prefix to its own limit (e.g. the model API's larger bodies);
    the longest matching prefix wins. ``on_refused`` (method, path, limit) is told of every
    refusal, so that a deployment with an audit log records it.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY,
        limits: dict[str, int] | None = None,
        on_refused: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))
        self.on_refused = on_refused

    def _refused(self, scope: Scope, limit: int) -> None:
        if self.on_refused is not None:
            self.on_refused(str(scope.get("method", "")), str(scope.get("path", ""))[:200], limit)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                self._refused(scope, limit)
                await _too_large(limit)(scope, receive, send)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            self._refused(scope, limit)
            if not started:
                await _too_large(limit)(scope, receive, send)


def find_cause(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """``exc`` or the first exception in its cause/context chain that is one of ``kinds``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def storage_unavailable(exc: BaseException) -> JSONResponse:
    """JSON 503 + ``Retry-After`` for a store that cannot be used now (never an allow)."""
    return JSONResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": f"storage unavailable ({str(exc)[:80]}); nothing was decided",
        },
        status_code=503,
        headers={"Retry-After": str(STORAGE_RETRY_AFTER), "Cache-Control": "no-store"},
    )


def record_if_possible(record: Callable[[Any], object], event: Any) -> None:
    """Audit a refusal if the audit log can still be written; a store that cannot write
    must not turn the refusal into a 500 (the request is refused either way)."""
    with contextlib.suppress(*STORAGE_ERRORS):
        record(event)


def bounded_int(
    value: str | None,
    name: str,
    *,
    default: int,
    low: int,
    high: int,
    error: Callable[[str], Exception],
) -> int:
    """An integer query parameter within ``[low, high]``; ``error(message)`` is raised else."""
    if value is None or value == "":
        return default
    if len(value) > 20 or not value.lstrip("-").isdigit():
        raise error(f"{name} must be an integer")
    number = int(value)
    if not low <= number <= high:
        raise error(f"{name} must be between {low} and {high}")
    return number


_PROBE_DDL = "CREATE TABLE IF NOT EXISTS storage_probe (id INTEGER PRIMARY KEY, at REAL NOT NULL)"


def probe_storage(store: SQLStore, now: float) -> dict[str, object]:
    """Whether ``store`` can be read and written now: one small write, then a read."""
    state: dict[str, object] = {"readable": False, "writable": False}
    try:
        store.one("SELECT count(*) FROM sqlite_master")
        state["readable"] = True
        with store.transaction() as tx:
            tx.execute(_PROBE_DDL)
            tx.execute(
                "INSERT INTO storage_probe VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (now,),
            )
        state["writable"] = True
    except STORAGE_ERRORS as exc:
        state["error"] = str(exc)[:120]
    return state


def health_response(store: SQLStore, now: float) -> JSONResponse:
    """``GET /health``: 200 when the store reads and writes, else 503 with ``Retry-After``."""
    state = probe_storage(store, now)
    ok = bool(state["readable"] and state["writable"])
    body = {"status": "ok" if ok else "unavailable", "storage": state}
    headers = {"Cache-Control": "no-store"}
    if not ok:
        headers["Retry-After"] = str(STORAGE_RETRY_AFTER)
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)
