"""POST /login: Argon2 off the event loop, failed logins throttled (429, audited).

* Event-loop lag: a ticker task records how late its 10 ms sleeps wake while concurrent
  failed logins hash with a costly Argon2id setting. One hash run on the loop would delay
  the ticker by a whole hash (measured first, ≥ ~0.1 s); off the loop the lag stays far
  below it. The bound is relative to the measured hash cost: robust on a loaded machine.
* Throttling: the 6th failure for an account within the window is answered 429 with
  ``Retry-After`` before any hash, and audited as ``login.throttled`` without the password;
  a success clears the account's failures, not the address's.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from iam_core.clock import ManualClock
from iam_core.iam import IAM, IAMConfig
from iam_core.login_guard import LoginThrottle
from iam_core.quota import QuotaSpec
from iam_core.registry import User
from iam_core.seed import DEMO_PASSWORDS
from iam_core.server import create_app
from iam_core.store import Store
from scenarios.deployment import Deployment, agent_keystore, build_iam
from tests.iam_core.helpers import audit, form_token, sign_in

pytestmark = pytest.mark.anyio
ISSUER = "http://iam.test"


async def test_concurrent_failed_logins_do_not_block_the_event_loop() -> None:
    hasher = PasswordHasher(time_cost=3, memory_cost=32768, parallelism=1)
    iam = IAM(Store(), config=IAMConfig(issuer=ISSUER), hasher=hasher)
    iam.registry.add_user(User("erin", "Erin"), "correct horse battery")
    hashed = hasher.hash("x")
    started = time.perf_counter()
    assert not _verifies(hasher, hashed, "y")
    one_hash = time.perf_counter() - started
    transport = httpx.ASGITransport(app=create_app(iam))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        token = form_token(await http.get("/login"))
        lags: list[float] = []
        running = True

        async def ticker() -> None:
            while running:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)

        async def fail(n: int) -> int:
            form = {"username": f"user{n}", "password": "wrong", "csrf": token}
            return (await http.post("/login", data=form)).status_code

        tick = asyncio.create_task(ticker())
        statuses = await asyncio.gather(*(fail(n) for n in range(6)))
        running = False
        await tick
    assert statuses == [401] * 6
    # A hash on the loop would hold it for a whole hash; allow half of that (at least 100 ms).
    assert max(lags) < max(0.1, one_hash / 2), (max(lags), one_hash)


def _verifies(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except Exception:  # noqa: BLE001 — any refusal is "does not verify"
        return False


async def test_the_sixth_failed_login_is_throttled_and_audited(dep: Deployment) -> None:
    for _ in range(5):
        assert (await sign_in(dep.http, "alice", "guess-123")).status_code == 401
    # Even the right password is not checked now: throttling comes before the hash.
    response = await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"])
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    entry = audit(dep, "login.throttled")[-1]
    assert entry.sub == "alice" and entry.outcome == "denied"
    assert entry.details["client_address"] and entry.details["limit"] == "account"
    logged = json.dumps([e.to_dict() for e in audit(dep)])
    assert "guess-123" not in logged and DEMO_PASSWORDS["alice"] not in logged
    # Another account from the same address is not locked out by alice's failures.
    assert (await sign_in(dep.http, "bob", DEMO_PASSWORDS["bob"])).status_code == 303


async def test_a_success_clears_the_accounts_failures(dep: Deployment) -> None:
    for _ in range(4):
        assert (await sign_in(dep.http, "alice", "guess-123")).status_code == 401
    assert (await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"])).status_code == 303
    for _ in range(5):
        assert (await sign_in(dep.http, "alice", "guess-123")).status_code == 401
    assert (await sign_in(dep.http, "alice", "guess-123")).status_code == 429


async def test_failures_from_one_address_are_throttled_across_accounts(dep: Deployment) -> None:
    for n in range(20):
        assert (await sign_in(dep.http, f"nobody{n}", "x")).status_code == 401
    response = await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"])
    assert response.status_code == 429 and "retry-after" in response.headers
    entry = audit(dep, "login.throttled")[-1]
    assert entry.details["limit"] == "address" and entry.sub == "alice"


def test_the_window_slides_and_a_success_keeps_the_address_count() -> None:
    clock = ManualClock(1_000.0)
    throttle = LoginThrottle(QuotaSpec(2, 60), QuotaSpec(3, 60), clock)
    throttle.failed("Alice", "10.0.0.1")
    clock.advance(30)
    throttle.failed("alice", "10.0.0.1")
    assert throttle.blocked("ALICE", "10.0.0.2") == ("account", 30)
    clock.advance(31)  # the first failure left the window
    assert throttle.blocked("alice", "10.0.0.2") is None
    throttle.succeeded("alice")
    throttle.failed("bob", "10.0.0.1")
    throttle.failed("carol", "10.0.0.1")
    assert throttle.blocked("dave", "10.0.0.1") == ("address", 29)
    assert throttle.blocked("dave", "10.0.0.9") is None


async def test_two_iam_processes_on_one_database_enforce_one_login_limit(tmp_path: Path) -> None:
    """Two IAM stacks on one SQLite file (as ``serve --workers 2``): failures at either count
    against one limit, so the 6th failure, wherever it lands, is throttled at both."""
    keystore = agent_keystore(in_memory=True)
    iams = [build_iam(tmp_path / "iam.db", keystore=keystore) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(i)), base_url=i.issuer)
        for i in iams
    ]
    try:
        for n in range(5):  # alternating: three failures at one worker, two at the other
            assert (await sign_in(clients[n % 2], "alice", "guess-123")).status_code == 401
        for client in clients:
            response = await sign_in(client, "alice", DEMO_PASSWORDS["alice"])
            assert response.status_code == 429, response.text
        # A success at one worker clears the account's failures at both.
        for n in range(4):
            await sign_in(clients[n % 2], "bob", "guess-123")
        assert (await sign_in(clients[1], "bob", DEMO_PASSWORDS["bob"])).status_code == 303
        for n in range(5):  # without the clearing, the last of these would be the 9th: 429
            assert (await sign_in(clients[n % 2], "bob", "guess-123")).status_code == 401
    finally:
        for client in clients:
            await client.aclose()
        for iam in iams:
            iam.store.close()


def test_a_restart_keeps_the_failures_counted(tmp_path: Path) -> None:
    """The failures are in the store: a new throttle on the same database still blocks."""
    clock = ManualClock(1_000.0)
    store = Store(tmp_path / "iam.db")
    first = LoginThrottle(QuotaSpec(2, 60), None, clock, store=store)
    first.failed("alice", "10.0.0.1")
    first.failed("alice", "10.0.0.1")
    store.close()
    again = Store(tmp_path / "iam.db")
    try:
        restarted = LoginThrottle(QuotaSpec(2, 60), None, clock, store=again)
        assert restarted.blocked("alice", "10.0.0.2") == ("account", 60)
    finally:
        again.close()


def test_the_store_keeps_only_the_last_limit_failures_of_a_key() -> None:
    """Bounded storage: past the limit only the newest ``limit`` failures of a key are kept."""
    clock = ManualClock(1_000.0)
    store = Store()
    throttle = LoginThrottle(QuotaSpec(3, 60), QuotaSpec(5, 60), clock, store=store)
    for _ in range(10):
        clock.advance(1)
        throttle.failed("alice", "10.0.0.1")
    counts = dict(
        (str(row[0]), int(row[1]))
        for row in store.all("SELECT name, COUNT(*) FROM quota_events GROUP BY name")
    )
    assert counts == {"login.account": 3, "login.address": 5}
    assert throttle.blocked("alice", "10.0.0.2") == ("account", 58)
