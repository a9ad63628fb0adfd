"""Security state survives kill -9 and is shared by workers and standalone services.

Real processes (``python -m agent_iam serve``) on free loopback ports with a temporary
AGENT_IAM_HOME; each test ends every process it started. Conditions are polled, never timed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from agents.dpop import DPoPKey
from tests.integration.processes import (
    Tasks,
    agent_token,
    free_port,
    processes,
    revoke,
    search,
)

pytestmark = pytest.mark.slow  # several cold starts of real servers: well over 20 s


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> str | None:
    """Each test on the SQLite file in AGENT_IAM_HOME and on a PostgreSQL schema of its own
    (``AGENT_IAM_STORE``), which every process of the test shares."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


def until(condition: object, timeout: float = 20.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_kill9_and_restart_keep_revocations_dpop_replay_and_quotas(
    tmp_path: Path, store: str | None
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    availability = f"{issuer}/hotel/availability"
    tasks = Tasks(issuer)
    with processes(tmp_path, store) as procs:
        server = procs.start(port=port)
        procs.wait_ready(server, f"{issuer}/jwks.json")
        revoked = asyncio.run(agent_token(issuer, tmp_path, availability, None, tasks))
        kept = asyncio.run(agent_token(issuer, tmp_path, availability, None, tasks))
        assert search(availability, revoked) == 200
        revoke(issuer, tmp_path, revoked)
        assert search(availability, revoked) == 401
        key = DPoPKey()
        bound = asyncio.run(agent_token(issuer, tmp_path, availability, key, tasks))
        proof = key.proof("GET", f"{availability}/hotels", bound)
        assert search(availability, bound, proof) == 200
        # Use up the agent's token quota (120 a minute) less what was taken already.
        taken = 3
        while asyncio.run(_try_token(issuer, tmp_path, availability, tasks)):
            taken += 1
            assert taken <= 200, "the token quota never refused"
        procs.kill9(server)

        server = procs.start(port=port)
        procs.wait_ready(server, f"{issuer}/jwks.json")
        assert search(availability, revoked) == 401  # the revocation survived the crash
        assert search(availability, kept) == 200
        assert search(availability, bound, proof) == 401  # the proof is not replayable
        assert not asyncio.run(_try_token(issuer, tmp_path, availability, tasks))  # quota continues


async def _try_token(issuer: str, home: Path, resource: str, tasks: Tasks) -> bool:
    from agents.oauth import OAuthClientError

    try:
        await agent_token(issuer, home, resource, None, tasks)
    except OAuthClientError as exc:
        status = exc.status
    else:
        return True
    assert status in (400, 429)
    return False


def test_two_workers_and_a_standalone_service_share_revocations(
    tmp_path: Path, store: str | None
) -> None:
    port, alone = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    availability = f"{issuer}/hotel/availability"
    standalone = f"http://127.0.0.1:{alone}"
    # A task per token: each token's ten searches stay within a task's request budget (20
    # per service, IAMConfig.requests_per_task), so every refusal here is a revocation's.
    tasks = Tasks(issuer, per_task=1)
    with processes(tmp_path, store) as procs:
        server = procs.start("--workers", "2", port=port)
        procs.wait_ready(server, f"{issuer}/jwks.json")
        service = procs.start("--only", "availability", "--issuer", issuer, port=alone)
        procs.wait_ready(service, f"{standalone}/.well-known/oauth-protected-resource")
        everywhere = [availability] * 8 + [standalone] * 2  # workers take turns on one port

        # With the delivery wait, refused everywhere as soon as /revoke returns.
        for _ in range(3):
            token = asyncio.run(agent_token(issuer, tmp_path, availability, None, tasks))
            assert {search(url, token) for url in everywhere} == {200}
            response = revoke(issuer, tmp_path, token, wait=10)
            assert response.headers["Revocation-Delivery"] == "acknowledged"
            assert {search(url, token) for url in everywhere} == {401}

        # Without it, refused everywhere shortly after (polled, not timed).
        token = asyncio.run(agent_token(issuer, tmp_path, availability, None, tasks))
        assert search(standalone, token) == 200
        revoke(issuer, tmp_path, token)
        assert until(lambda: {search(url, token) for url in everywhere} == {401})

        # The standalone service restarts and catches up from its own cursor.
        procs.kill9(service)
        token = asyncio.run(agent_token(issuer, tmp_path, availability, None, tasks))
        revoke(issuer, tmp_path, token)
        service = procs.start("--only", "availability", "--issuer", issuer, port=alone)
        procs.wait_ready(service, f"{standalone}/.well-known/oauth-protected-resource")
        assert search(standalone, token) == 401

        # The agent's token quota holds across the workers: 120 a minute, not 120 each.
        taken = 5  # tokens this agent took above
        while asyncio.run(_try_token(issuer, tmp_path, availability, tasks)):
            taken += 1
            assert taken <= 200, "the token quota never refused"
        assert taken == 120


def test_simultaneous_cold_starts_on_a_fresh_folder(tmp_path: Path, store: str | None) -> None:
    ports = [free_port() for _ in range(3)]
    with processes(tmp_path, store) as procs:
        servers = [procs.start(port=p) for p in ports]
        for server, p in zip(servers, ports, strict=True):
            procs.wait_ready(server, f"http://127.0.0.1:{p}/jwks.json")
        keys = {
            str(
                sorted(
                    k["kid"] for k in httpx.get(f"http://127.0.0.1:{p}/jwks.json").json()["keys"]
                )
            )
            for p in ports
        }
        assert len(keys) == 1, "the servers made different signing keys"
        assert "DuplicateIdentity" not in procs.logs()
