"""Keeping a service's revocation list current from another process: RFC 8936 long-polling.

The poller authenticates as the service's app (an App token with ``events:read``,
``client_secret_basic``),
long-polls ``/events/poll``, verifies each SET against the issuer's JWKS, applies it, and
acknowledges it in the next poll. Each service polls as its own client, so the IAM keeps one
acknowledgement cursor per receiver; a service that was down catches up from its cursor
before it serves. In one process the services subscribe to the publisher directly instead,
and no poll is needed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx

from iam_core.errors import TokenError
from iam_core.events import RevokedTokens
from iam_core.jwks_client import RemoteJWKS


class SetPoller:
    """An RFC 8936 §2 poll-based SET receiver feeding a :class:`RevokedTokens` set."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer: str,
        revoked: RevokedTokens,
        keys: RemoteJWKS,
        *,
        client_id: str,
        client_secret: str,
        wait: bool = True,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._http = http
        self._issuer = issuer.rstrip("/")
        self._revoked = revoked
        self._keys = keys
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._wait = wait
        self._on_error = on_error
        self._token: str | None = None
        self._token_expiry = 0.0
        self._ack: list[str] = []
        self.polls = 0

    async def _bearer(self) -> str:
        if self._token is None or time.time() > self._token_expiry - 30:
            response = await self._http.post(
                f"{self._issuer}/token",
                data={"grant_type": "client_credentials", "scope": "events:read"},
                headers={"Authorization": f"Basic {self._basic}"},
            )
            response.raise_for_status()
            body = response.json()
            self._token = str(body["access_token"])
            self._token_expiry = time.time() + float(body["expires_in"])
        return self._token

    async def poll_once(self, *, wait: bool | None = None) -> int:
        """One poll: acknowledge what was applied, apply what arrives; returns how many.

        A SET is acknowledged (in the next poll) only once applied, and applying writes it
        to the service's store first: an event is never acknowledged and then lost.
        """
        immediately = not (self._wait if wait is None else wait)
        response = await self._http.post(
            f"{self._issuer}/events/poll",
            json={"ack": self._ack, "maxEvents": 100, "returnImmediately": immediately},
            headers={"Authorization": f"Bearer {await self._bearer()}"},
            timeout=30.0,
        )
        response.raise_for_status()
        self.polls += 1
        applied: list[str] = []
        for jti, token in response.json().get("sets", {}).items():
            try:
                self._revoked.receive_token(token, self._keys)
            except TokenError:
                await self._keys.refresh()
                self._revoked.receive_token(token, self._keys)
            applied.append(jti)
        self._ack = applied
        return len(applied)

    async def catch_up(self, *, timeout: float = 60.0) -> int:
        """Apply every event waiting at this receiver's cursor, and acknowledge them, before
        the service serves (RFC 8936 §2.4); retries while the IAM is unreachable and raises
        the last error after ``timeout`` seconds, so that a service never starts blind."""
        deadline = time.monotonic() + timeout
        applied = 0
        while True:
            try:
                got = await self.poll_once(wait=False)
            except (httpx.HTTPError, TokenError, ValueError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            applied += got
            if got == 0:  # this poll carried the acknowledgements of the last batch
                return applied

    async def run(self) -> None:
        """Poll until cancelled; back off briefly after an error (the IAM may be restarting)."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, TokenError, ValueError) as exc:
                if self._on_error:
                    self._on_error(exc)
                await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def polling(poller: SetPoller) -> AsyncIterator[SetPoller]:
    """Catch up, then run a poller in the background for the lifetime of a service."""
    await poller.catch_up()
    task = asyncio.create_task(poller.run())
    try:
        yield poller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
