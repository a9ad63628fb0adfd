"""Real ``agent-iam serve`` processes on free loopback ports, for the multi-process tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import httpx

from agents.dpop import DPoPKey
from agents.front_door import FRONT_DOOR, FrontDoor
from agents.keystore import AgentKeyStore
from agents.oauth import AgentCredentials, AppCredentials, OAuthClient
from iam_core.client_auth import ASSERTION_TYPE
from iam_core.seed import DEMO_SECRETS

START_TIMEOUT = 90.0
SECRET = DEMO_SECRETS[FRONT_DOOR]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Starts serve processes in one AGENT_IAM_HOME and ends every one it started."""

    def __init__(self, home: Path, store: str | None = None) -> None:
        self.home = home
        self.store = store  # a postgresql:// URL (AGENT_IAM_STORE), else iam.db in home
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(self, *args: str, port: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "AGENT_IAM_HOME": str(self.home)}
        if self.store is not None:
            env["AGENT_IAM_STORE"] = self.store
        log = open(self.home / f"serve-{port}-{len(self._procs)}.log", "wb")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_iam", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # workers share the group: one kill ends them all
        )
        self._procs.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}: {self.logs()}")
            try:
                if httpx.get(url, timeout=2.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer {url}: {self.logs()}")

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        """A crash: SIGKILL to the process and its workers."""
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.home.glob("*.log"))

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                self.kill9(proc)
        for log in self._logs:
            log.close()


@contextmanager
def processes(home: Path, store: str | None = None) -> Iterator[Processes]:
    procs = Processes(home, store)
    try:
        yield procs
    finally:
        procs.close()


def revoke(issuer: str, home: Path, token: str, *, wait: float | None = None) -> httpx.Response:
    """The agent revokes its own token (RFC 7009), optionally waiting for delivery."""
    headers = {"Prefer": f"wait={wait:g}"} if wait is not None else {}
    form = {
        "token": token,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": OAuthClient(httpx.AsyncClient(), issuer).client_assertion(agent(home)),
    }
    response = httpx.post(f"{issuer}/revoke", data=form, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response


def agent(home: Path) -> AgentCredentials:
    keys = AgentKeyStore(home / "agent-keys")
    return AgentCredentials(
        "booking-assistant", keys.private_key("booking-assistant"), keys.kid("booking-assistant")
    )


class Tasks:
    """The front door's tasks for the agent's tokens (``hotel-chat``, docs/design.md §3.2):
    a new task every ``per_task`` tokens, the most the IAM issues within one
    (``IAMConfig.tokens_per_task``), so a refusal seen by a test is never the task's cap."""

    def __init__(self, issuer: str, per_task: int = 8) -> None:
        self.issuer = issuer
        self.per_task = per_task
        self._token: str | None = None
        self._used = 0

    async def next(self, http: httpx.AsyncClient) -> str:
        if self._token is None or self._used >= self.per_task:
            door = FrontDoor(OAuthClient(http, self.issuer), AppCredentials(FRONT_DOOR, SECRET))
            self._token, self._used = (await door.open("booking-assistant")).token, 0
        self._used += 1
        return self._token


async def agent_token(
    issuer: str, home: Path, resource: str, dpop: DPoPKey | None, tasks: Tasks
) -> str:
    """The agent's own token for ``resource``, within the front door's current task."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        task = await tasks.next(http)
        body = await OAuthClient(http, issuer).agent_token(
            agent(home), resource=resource, scope="availability:read", dpop=dpop, task=task
        )
    return str(body["access_token"])


def search(url: str, token: str, proof: str | None = None) -> int:
    headers = {"Authorization": f"{'DPoP' if proof else 'Bearer'} {token}"}
    if proof:
        headers["DPoP"] = proof
    return httpx.get(f"{url}/hotels", headers=headers, timeout=30.0).status_code
