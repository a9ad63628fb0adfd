"""A real browser (Playwright driving Debian's Chromium) against a real uvicorn server.

Skipped, with the reason, where there is no ``/usr/bin/chromium`` or no ``playwright``
(``pip install -e '.[browser]'``; ``.ci/run`` installs both). Playwright's own browser
download is not used: it launches the system executable. Screenshots are kept under
``tests/browser/artifacts/`` (gitignored) as test artifacts.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from iam_core.iam import IAM, IAMConfig
from scenarios.deployment import agent_keystore, build_iam, build_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Server:
    url: str
    iam: IAM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    iam = build_iam(None, keystore=agent_keystore(True), config=IAMConfig(issuer=url))
    app, _hotel, _inner = build_stack(iam)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Server(url, iam)
    uv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium executable (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no playwright (pip install -e '.[browser]')"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
