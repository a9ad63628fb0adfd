"""What the property tests share: a deployment on a hand-moved clock, driven from sync code.

The client side stamps its RFC 7523 assertions and RFC 9449 proofs through an injected
clock (``agents.clock``): the deployment's OAuth client reads the same :class:`ManualClock`
as the IAM, and a test's own DPoP keys are made with ``DPoPKey(clock=clock)``, so a test can
move time past every token lifetime and keep issuing fresh tokens.

The deployment runs on an event loop of its own (an anyio blocking portal): hypothesis draws
happen in plain synchronous code, and a draw that ends an example (``StopTest``) must never
cross an asyncio task (see tests/hotel/test_fuzz.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from scenarios.deployment import Deployment, deployment

# A fixed start keeps examples reproducible: 2026-09-21T...Z, well inside the hotel's inventory.
START = 1_790_000_000.0


@contextmanager
def served(
    clock: ManualClock, config: IAMConfig | None = None
) -> Iterator[tuple[BlockingPortal, Deployment]]:
    """An in-memory deployment on ``clock``, on its own event loop; its OAuth client too."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        dep = stack.enter_context(
            portal.wrap_async_context_manager(
                deployment(in_memory=True, clock=clock, config=config)
            )
        )
        yield portal, dep


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A compact JWS's header, claims and raw signature segment (nothing verified)."""
    head, body, sig = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body)), sig


def join(header: dict[str, Any], claims: dict[str, Any], sig: str) -> str:
    return f"{b64json(header)}.{b64json(claims)}.{sig}"
