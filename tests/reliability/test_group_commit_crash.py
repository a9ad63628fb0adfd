"""Group commit under ``kill -9``: every request that got an answer has its audit entry.

A real ``agent-iam serve`` (loopback, a temporary ``AGENT_IAM_HOME``) takes concurrent
requests without a token on a guarded route; each decision is audited through the guard's
group-commit sink and carries the request's own W3C trace id. The server is killed with
SIGKILL mid-load. Afterwards the chain must verify and every trace id that received a response
must name an entry: an answer that overtook its commit would show up as a missing trace id.
No timing is asserted; the waits only bound the test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from iam_core.audit_files import open_to_verify


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(port: int, answered: set[str], stop: asyncio.Event) -> None:
    url = f"http://127.0.0.1:{port}/hotel/availability/hotels"
    async with httpx.AsyncClient(timeout=5.0) as client:

        async def worker() -> None:
            while not stop.is_set():
                trace = secrets.token_hex(16)
                headers = {"traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"}
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError:
                    continue  # no answer: nothing is promised
                if response.status_code == 401:
                    answered.add(trace)

        await asyncio.gather(*(worker() for _ in range(16)))


def test_no_answered_decision_loses_its_entry_under_kill_9(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "AGENT_IAM_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "agent_iam", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/jwks.json", timeout=1.0)
                break
            except httpx.HTTPError:
                assert server.poll() is None, "agent-iam serve exited"
                assert time.monotonic() < deadline, "agent-iam serve did not start"
                time.sleep(0.2)
        answered: set[str] = set()

        async def scenario() -> None:
            stop = asyncio.Event()
            load = asyncio.create_task(_load(port, answered, stop))
            while len(answered) < 300 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            os.kill(server.pid, signal.SIGKILL)  # mid-load: requests are in flight
            await asyncio.sleep(0.3)
            stop.set()
            await load

        asyncio.run(scenario())
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    assert answered, "no request was answered"
    log = open_to_verify(tmp_path / "home" / "iam.db")
    result = log.verify()
    assert result.ok, result.reason
    audited = {e.trace_id for e in log.query(event="access.decision")}
    missing = answered - audited
    assert not missing, f"{len(missing)} answered requests have no audit entry"
