"""``DPoP-Nonce`` on every response of a resource server (RFC 9449 §9).

A client keeps the latest nonce a server gave it and puts it in its next proof (§8.1); a
service that hands one out on every answer, successful or not, spares its clients the
``use_dpop_nonce`` round trip when the window turns.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iam_core.dpop import DPoPNonces


class DPoPNonceHeader:
    """Plain ASGI middleware adding the current ``DPoP-Nonce`` to every HTTP response."""

    def __init__(self, app: ASGIApp, nonces: DPoPNonces) -> None:
        self.app = app
        self.nonces = nonces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_nonce(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"dpop-nonce"
                ]
                headers.append((b"dpop-nonce", self.nonces.current().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_nonce)
