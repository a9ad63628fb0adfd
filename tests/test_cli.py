"""The ``agent-iam`` command line, as a person runs it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from agent_iam.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENT_IAM_HOME", str(tmp_path / ".agent-iam"))
    return tmp_path / ".agent-iam"


def test_the_tour_obtains_all_four_tokens_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quick-start job: every token type, revocation, withdrawal, an intact audit log."""
    assert main(["tour", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    auts = [row["claims"]["aut"] for row in out["tokens"]]
    assert auts[:4] == ["AGENT", "APPLICATION", "APPLICATION_USER", "APPLICATION_USER"]
    assert out["tokens"][-1]["claims"]["act"] == {
        "sub": "staff-assistant",
        "act": {"sub": "booking-assistant"},
    }
    assert out["audit"]["ok"] is True and out["audit"]["agent_entries"] > 0
    assert any("active=False" in note for note in out["notes"])


def test_demo_prints_every_identity_and_its_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    """agent-iam demo --json lists users, agents, apps, passwords, secrets, key places."""
    assert main(["demo", "--json"]) == 0
    world = json.loads(capsys.readouterr().out)
    assert [u["id"] for u in world["users"]] == ["alice", "bob", "carol", "dave"]
    assert {a["id"] for a in world["agents"]} == {"booking-assistant", "staff-assistant"}
    assert {a["id"] for a in world["apps"]} >= {
        "hotel-web",
        "staff-console",
        "booking-backend",
        "auditor",
    }
    assert all(u["password"] for u in world["users"])
    assert all(a["private_key"].endswith(".pem") for a in world["agents"])


def test_token_obo_runs_the_real_flow_in_process_and_persists_state(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """agent-iam token obo prints a JWT; the database and agent keys live in the home folder."""
    code = main(
        [
            "token",
            "obo",
            "--user",
            "alice",
            "--agent",
            "booking-assistant",
            "--scope",
            "booking:create payment:charge",
        ]
    )
    assert code == 0
    # Two services' scopes: one token per service, one per line (the first is booking's).
    token = capsys.readouterr().out.split()[0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {"sub": "booking-assistant"} and claims["sub"] == "alice"
    assert (home / "iam.db").exists() and (home / "agent-keys" / "booking-assistant.pem").exists()
    assert oct((home / "agent-keys" / "booking-assistant.pem").stat().st_mode)[-3:] == "600"
    assert main(["audit", "verify"]) == 0


def test_audit_verify_names_the_first_tampered_entry(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing a stored entry makes audit verify exit non-zero and name it."""
    assert main(["token", "agent", "--scope", "availability:read"]) == 0
    assert main(["token", "app", "--scope", "availability:hold"]) == 0
    capsys.readouterr()
    with sqlite3.connect(home / "iam.db") as db:
        db.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE audit_entries SET body = replace(body, 'agent', 'Agent') WHERE seq = 1")
    assert main(["audit", "verify"]) == 1
    assert "entry 1" in capsys.readouterr().out


def test_audit_show_separates_an_agents_trail(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--agent shows only entries where the agent is sub or in act."""
    main(["token", "agent", "--scope", "availability:read"])
    main(["token", "app", "--scope", "availability:hold"])
    capsys.readouterr()
    assert main(["audit", "show", "--agent", "booking-assistant", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries and all("booking-assistant" in (e["sub"], *e["act"]) for e in entries)


def test_a_refused_flow_exits_non_zero_with_the_oauth_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent asking for a scope it may not hold on its own: exit 2, error on stderr."""
    assert main(["token", "agent", "--scope", "payment:charge"]) == 2
    assert "invalid_scope" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_and_token_work_together_from_one_folder(tmp_path: Path) -> None:
    """Two terminals in one folder, no flags: agent-iam serve, then agent-iam token --server."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "AGENT_IAM_HOME"}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "agent_iam.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "agent_iam.cli",
                    "token",
                    "obo",
                    "--server",
                    url,
                    "--scope",
                    "booking:create",
                ],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    served = log_path.read_text()
    assert result.returncode == 0, f"{result.stderr}\n--- serve ---\n{served}"
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["iss"] == url and claims["act"] == {"sub": "booking-assistant"}
    assert (tmp_path / ".agent-iam" / "iam.db").exists()
