"""scim2-tester's checks against the live SCIM service (RFC 7643, RFC 7644), in process.

Every check passes or is skipped, except those the README justifies, listed in JUSTIFIED:
random key material is not a usable public key, and the IAM refuses unusable ``jwks``
(RFC 7517 §4; private_key_jwt needs keys it can verify with), and ``active`` stays returned
after a PATCH remove (an identity is either active or not; RFC 7644 §3.5.2.2 leaves it to the
provider).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.iam_core.test_scim import make_world

JUSTIFIED = ("unusable JWK", "'jwks'", "did not remove attribute 'active'")


class InProcess(httpx2.BaseTransport):
    """A synchronous httpx2 transport over the ASGI app (scim2-tester drives a sync client)."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx2.ASGITransport(app=app)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()

        async def send() -> httpx2.Response:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            return httpx2.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(send())


def test_scim2_tester_passes_every_check_but_the_justified_ones() -> None:
    world = make_world()
    client = httpx2.Client(
        transport=InProcess(world.app),
        base_url="http://iam.test/scim/v2",
        headers={"Authorization": f"Bearer {world.admin_token}"},
    )
    results = check_server(SyncSCIMClient(client))
    statuses = Counter(result.status for result in results)
    failures = [
        f"{result.resource_type} {result.title}: {result.reason}"
        for result in results
        if result.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    unexplained = [f for f in failures if not any(reason in f for reason in JUSTIFIED)]
    assert not unexplained, "\n".join(unexplained)
    assert statuses[Status.SUCCESS] >= 70, statuses
    # Discovery, Users and every create/read/delete of Agents pass outright.
    assert all("User" not in f or "'active'" in f for f in failures), failures
