"""Servers for the benchmarks: uvicorn in a subprocess on a free loopback port.

A subprocess, not a thread: the load generator must not share the server's interpreter (the
GIL would make them take turns) and the server's CPU time is read from its own process. The
child dies with the benchmark (``PR_SET_PDEATHSIG`` on Linux) and :func:`running` always
stops it, on error and on Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

from agent_iam.bench.harness import process_cpu_seconds

READY_PATH = "/.well-known/oauth-authorization-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    """A server command in a subprocess, its output in ``folder/NAME.log``."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        folder: Path,
        *,
        ready_path: str = READY_PATH,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.log = folder / f"{name}.log"
        self.ready_path = ready_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd or folder
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def app(cls, kind: str, folder: Path, *extra: str) -> ServerProcess:
        """One of :mod:`agent_iam.bench.apps`' apps (``kind``) with its state in ``folder``."""
        port = free_port()
        command = [sys.executable, "-m", "agent_iam.bench.apps", kind, str(folder), str(port)]
        return cls(kind, [*command, *extra], port, folder)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        preexec = _die_with_parent if sys.platform == "linux" else None
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                preexec_fn=preexec,  # only a prctl before exec: no locks taken
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.ready_path).status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        return float("nan") if self.proc is None else process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGINT (a second signal makes uvicorn exit without waiting for
        parked long-polls), then SIGKILL."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for signum, grace in ((signal.SIGTERM, 2.0), (signal.SIGINT, 3.0)):
            proc.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
                return
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def running(*servers: ServerProcess) -> Iterator[tuple[ServerProcess, ...]]:
    """Start all, wait until each answers, stop all on the way out whatever happens."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
