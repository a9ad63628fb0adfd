"""A resource server's copy of the issuer's JWKS: cached, refetched on an unknown ``kid``.

Refetches are rate-limited (at most one per ``min_interval`` seconds), so a flood of tokens
with made-up ``kid`` values cannot make a service hammer the issuer (RFC 8725 §3.10 warns
against trusting token-supplied key locations; here the location is configured, never read
from a token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from iam_core.clock import Clock
from iam_core.keys import VerificationKey, verification_key_from_jwk


class RemoteJWKS:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        clock: Clock,
        *,
        min_interval: float = 5.0,
        max_age: float = 300.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._min_interval = min_interval
        self._max_age = max_age
        self._keys: dict[str, VerificationKey] = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    def reset_state(self) -> None:
        """Forget the fetched keys: the next token makes a fetch, as at start-up."""
        self._keys = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()  # a run may use another event loop
        self.fetches = 0

    def get_key(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS unless one was fetched within ``min_interval``; True if fetched."""
        async with self._lock:
            if not force and self._clock.now() - self._last_fetch < self._min_interval:
                return False
            self._last_fetch = self._clock.now()
            document = await self._fetch()
            self.fetches += 1
            keys: dict[str, VerificationKey] = {}
            for jwk in document.get("keys", []):
                if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                    continue
                try:
                    key = verification_key_from_jwk(jwk)
                except ValueError:
                    continue  # a key we cannot use is skipped, never trusted
                keys[key.kid] = key
            self._keys = keys
            return True

    def stale(self) -> bool:
        """True when the copy is older than ``max_age``: keys the issuer removed must go."""
        return self._clock.now() - self._last_fetch > self._max_age

    async def key_for(self, kid: str) -> VerificationKey | None:
        """The key for ``kid``, refetching the JWKS once (rate-limited) when it is unknown."""
        key = self._keys.get(kid)
        if key is None and await self.refresh():
            key = self._keys.get(kid)
        return key
