"""The HTML report of ``agent-iam run --out`` in a real browser (Debian's Chromium).

A real run of the payment-overreach case on real approvals (OpenID CIBA), written with
``--out``, opened from disk: the page shows the verdicts and, in the run's sequence, the
wait for alice's approval and her answers — what an architect reads. Screenshot kept under
``tests/browser/artifacts/``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.browser.conftest import ARTIFACTS

WAIT = "waiting for alice's approval: pay €460.00 for bk-ALI001 at Alpine Lodge"


def test_the_html_report_shows_verdicts_and_the_approvals(tmp_path: Path, browser: Any) -> None:
    out = tmp_path / "run"
    # The command a person types (its own process: Playwright's loop runs in this one).
    command = [sys.executable, "-m", "agent_iam", "run", "c11a", "--workers", "1"]
    done = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = browser.new_page()
    page.goto((out / "report.html").resolve().as_uri())
    body = page.inner_text("body")
    assert "c11a-raise-the-amount" in body
    # The attack's sequence: the agent waited for alice, she denied what was not her task,
    # then approved her own €420 (the steps are collapsed: open every one).
    for summary in page.locator("summary").all():
        summary.click()
    body = page.inner_text("body")
    assert WAIT in body
    assert "alice denied: pay €460.00 for bk-ALI001 at Alpine Lodge" in body
    assert "alice approved: pay €420.00 for bk-ALI001 at Alpine Lodge" in body
    denied = page.locator(".approval.denied").first
    assert denied.is_visible()
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()
