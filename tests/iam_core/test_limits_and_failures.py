"""Issue 12 items 3 and 4: bodies counted while they stream; storage failures answer 503.

* A chunked body with no Content-Length passed the services' limit (it checked only the
  header) and the IAM read whole bodies before checking: 413 now as soon as the bytes
  received pass the limit, without reading the rest.
* With the disk full or the database read-only every request was a plain-text 500: a JSON
  503 with ``Retry-After`` now, never an allow; ``/health`` reports the storage state;
  ``serve`` refuses a database it cannot write; ``/audit?since=<huge>`` is a 400.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agent_iam import token_flows
from agent_iam.http_server import ServerLimits
from agent_iam.serve import unwritable
from iam_core.limits import BodyLimit
from iam_core.store import Store
from scenarios.deployment import Deployment
from tests.hotel.helpers import iam_of, url

pytestmark = pytest.mark.anyio

CHUNK = 16 * 1024


class Counted:
    """A chunked body generator that counts what the server pulled from it."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * CHUNK


async def test_a_chunked_body_over_the_limit_is_413_without_being_read() -> None:
    received = 0

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal received
        while True:
            message = await receive()
            received += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read all"})

    limited = BodyLimit(app, max_bytes=64 * 1024)
    body = Counted(chunks=2000)  # 32 MB if read to the end
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=limited), base_url="http://t"
    ) as client:
        response = await client.post("/", content=body.__aiter__())
    assert response.status_code == 413
    assert received <= 64 * 1024 + CHUNK
    assert body.sent < 10


@pytest.mark.parametrize("where", ["token", "scim", "service"])
async def test_chunked_oversized_bodies_without_a_token_are_413(
    dep: Deployment, where: str
) -> None:
    path = {
        "token": "/token",
        "scim": "/scim/v2/Users",
        "service": url(dep, "booking", "/bookings"),
    }[where]
    body = Counted(chunks=200)
    kind = "application/x-www-form-urlencoded" if where == "token" else "application/json"
    response = await dep.http.post(path, content=body.__aiter__(), headers={"Content-Type": kind})
    assert response.status_code == 413, response.text
    assert body.sent < 40  # SCIM's limit is 256 kB; nothing near the 3 MB offered


@pytest.mark.parametrize("chunked", [True, False])
async def test_a_body_refused_for_its_size_at_the_iam_is_audited(
    dep: Deployment, chunked: bool
) -> None:
    """Every refusal is audited, the 413 of the body limit included (before any endpoint)."""
    content = Counted(chunks=200).__aiter__() if chunked else b"x" * (200 * CHUNK)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await dep.http.post("/token", content=content, headers=headers)
    assert response.status_code == 413, response.text
    entries = iam_of(dep).audit.query(event="request.refused")
    assert entries, "the 413 was not audited"
    last = entries[-1]
    assert (last.outcome, last.path, last.method) == ("denied", "/token", "POST")
    assert "larger than" in (last.reason or "")


def _full_disk(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "transaction", refuse)
    monkeypatch.setattr(store, "execute", refuse)


async def test_a_full_disk_is_a_json_503_and_never_an_allow(
    dep: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await token_flows.agent_token(
        dep, "booking-assistant", "availability:read", "availability"
    )
    _full_disk(iam_of(dep).store, monkeypatch)
    for response in (
        await dep.http.get(
            url(dep, "availability", "/hotels"),
            headers={"Authorization": f"Bearer {agent['access_token']}"},
        ),
        await dep.http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=("auditor", "x")
        ),
        await dep.http.get("/health"),
    ):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        assert response.headers["content-type"].startswith("application/json")


async def test_health_reports_storage(dep: Deployment) -> None:
    response = await dep.http.get("/health")
    assert response.status_code == 200
    assert response.json()["storage"] == {"readable": True, "writable": True}
    service = await dep.http.get(url(dep, "booking", "/health"))
    assert service.status_code == 200


def test_serve_refuses_a_database_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "iam.db")
    assert unwritable(store) is None

    def read_only(*_args: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store, "transaction", read_only)
    problem = unwritable(store)
    assert problem is not None and "readonly" in problem and "cannot write" in problem


@pytest.mark.parametrize("query", ["since=99999999999999999999999", "since=-1", "limit=abc"])
async def test_audit_integer_parameters_are_bounded(dep: Deployment, query: str) -> None:
    token = await token_flows.app_token(dep, "auditor", "audit:read", None)
    response = await dep.http.get(
        f"/audit?{query}", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 400, response.text


def test_server_limits_are_configurable() -> None:
    limits = ServerLimits.from_env({"AGENT_IAM_MAX_CONNECTIONS": "50"})
    options = limits.uvicorn_options()
    assert options["limit_concurrency"] == 50
    assert options["timeout_keep_alive"] == 5
    assert options["h11_max_incomplete_event_size"] == 32 * 1024
    assert options["http"] != "auto"
