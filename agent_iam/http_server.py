"""Connection limits for ``agent-iam serve`` (README, "Security limits").

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``) and answers 503 past ``limit_concurrency``, but it has no timeout
for a connection that never finishes sending its request head: an idle fresh connection or
a slow-header ("slowloris") client is kept forever, and enough of them block everyone.
:func:`protocol_class` adds that timeout to uvicorn's httptools protocol — the request head
must be complete within ``header_timeout`` seconds of the connection opening, or of the
first byte of the next request on a kept-alive connection — and bounds the head's size
(uvicorn's ``h11_max_incomplete_event_size`` does so only for the h11 protocol).

Every value can be changed with an environment variable (``AGENT_IAM_<NAME>``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, fields
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class ServerLimits:
    keep_alive: int = 5  # seconds an idle kept-alive connection stays open
    header_timeout: float = 10.0  # seconds to send a complete request head
    max_connections: int = 1000  # connections and requests at once; 503 past it
    max_header_bytes: int = 32 * 1024  # request line and headers together

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerLimits:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(f"AGENT_IAM_{field.name.upper()}")
            if raw:
                kind = float if field.name == "header_timeout" else int
                values[field.name] = kind(raw)
        return cls(**values)

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
        return {
            "timeout_keep_alive": self.keep_alive,
            "limit_concurrency": self.max_connections,
            "h11_max_incomplete_event_size": self.max_header_bytes,
            "http": protocol_class(self),
        }


def protocol_class(limits: ServerLimits) -> str:
    """The import path of :class:`BoundedHeadProtocol`, set to ``limits`` (httptools ships
    with ``uvicorn[standard]``, a dependency)."""
    BoundedHeadProtocol.limits = limits
    return f"{__name__}:BoundedHeadProtocol"


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout and size limit.

    A class at module level, named by its import path in uvicorn's options, so that
    ``serve --workers N`` can hand it to worker processes; its limits come from the
    environment, which the workers inherit."""

    limits = ServerLimits.from_env()
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            # Raised inside the parser: uvicorn answers 400 and closes the connection.
            raise ValueError("request head too large")

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
