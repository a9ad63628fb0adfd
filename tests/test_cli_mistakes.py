"""Every mistyped invocation ends in one clear line and an exit code, never a traceback.

A table of bad invocations runs through the real entry point (``main``), most in-process;
a few run as ``python -m agent_iam`` to see what a shell sees (a broken pipe, no traceback).
Exit codes: 2 for a usage mistake, 1 for a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent_iam.cli import main

UNREACHABLE = "http://127.0.0.1:1"
FILE = "/etc/hostname"  # a file, so that FILE/x cannot be created

# (argv, state of the home folder, exit code, words the one line must contain)
# In argv, {dir} is an existing folder, {corrupt} a file that is not a database.
CASES: list[tuple[list[str], str, int, str]] = [
    ([], "", 2, "required"),
    (["--bogus"], "", 2, "required: COMMAND"),
    (["nosuch"], "", 2, "invalid choice"),
    (["run", "--seed", "x"], "", 2, "invalid int value"),
    (["run", "--workers", "0"], "", 2, "not a positive number"),
    (["run", "--model"], "", 2, "expected one argument"),
    (["run", "--json", "{dir}"], "", 2, "is a folder"),
    (["run", "--json", f"{FILE}/r.json"], "", 2, "is not a folder"),
    (["run", "--junit", "{dir}"], "", 2, "is a folder"),
    (["run", "--html", f"{FILE}/r.html"], "", 2, "is not a folder"),
    (["run", "--out", FILE], "", 2, "is a file, not a folder"),
    (["run", "--out", f"{FILE}/runs"], "", 2, "is not a folder"),
    (["run", "no-such-scenario"], "", 2, "no scenario matches no-such-scenario"),
    (["run", "-k", "and"], "", 2, "not a keyword expression"),
    (["run", "-k", "zzzz-nothing"], "", 2, "no scenario matches this selection"),
    (["run", "--threat", "T99"], "", 2, "unknown threat T99"),
    (["list", "--bogus"], "", 2, "unrecognized arguments"),
    (["tour", "extra"], "", 2, "unrecognized arguments"),
    (["serve", "--port", "99999"], "", 2, "port 99999 is outside 1-65535"),
    (["serve", "--port", "0"], "", 2, "outside 1-65535"),
    (["serve", "--port", "http"], "", 2, "not a port number"),
    (["serve", "--db", "{dir}"], "", 2, "is a folder"),
    (["serve", "--db", f"{FILE}/iam.db"], "", 2, "is not a folder"),
    (["serve", "--db", "{corrupt}"], "", 2, "is not a SQLite database"),
    (["serve"], "corrupt-db", 1, "is not a SQLite database"),
    (["serve"], "corrupt-audit-key", 1, "audit key"),
    (["serve"], "corrupt-pem", 1, "agent key"),
    (["serve", "--issuer", "localhost:8000"], "", 2, "not an http(s) URL"),
    (["serve", "--only", "spa"], "", 2, "invalid choice"),
    (["serve", "--only", "booking"], "", 2, "needs --issuer"),
    (["serve", "--only", "booking", "--services-base", "x"], "", 2, "not an http(s) URL"),
    (["token"], "", 2, "required: kind"),
    (["token", "bogus"], "", 2, "invalid choice"),
    (["token", "obo", "--user", "mallory", "--scope", "booking:create"], "", 2, "mallory"),
    (["token", "user", "--user", "mallory", "--scope", "booking:read"], "", 2, "unknown user"),
    (["token", "agent", "--agent", "mallory"], "", 2, "unknown agent 'mallory'"),
    (["token", "exchange", "--to", "eve", "--scope", "booking:read"], "", 2, "unknown agent"),
    (["token", "app", "--app", "nosuch"], "", 2, "unknown app 'nosuch'"),
    (["token", "obo", "--app", "booking-backend", "--scope", "booking:create"], "", 2, "redirect"),
    (["token", "user"], "", 2, "--scope is required"),
    (["token", "obo"], "", 2, "--scope is required"),
    (["token", "exchange", "--scope", "booking:read payment:charge"], "", 2, "one audience"),
    (["token", "agent", "--server", "not a url"], "", 2, "not an http(s) URL"),
    (["token", "agent", "--server", "ftp://example.org"], "", 2, "not an http(s) URL"),
    (["token", "agent", "--server", "http://h:99999"], "", 2, "bad port"),
    (["token", "agent", "--server", UNREACHABLE, "--scope", "availability:read"], "", 1, "reach"),
    (["token", "agent", "--db", "{dir}"], "", 2, "is a folder"),
    (["token", "agent", "--db", "{corrupt}"], "", 2, "is not a SQLite database"),
    (["token", "agent", "--scope", "availability:read"], "corrupt-db", 1, "SQLite"),
    (["token", "agent", "--scope", "availability:read"], "corrupt-audit-key", 1, "audit key"),
    (["token", "agent", "--scope", "availability:read"], "corrupt-pem", 1, "agent key"),
    (["token", "agent", "--scope", "payment:charge"], "seeded", 2, "invalid_scope"),
    (["token", "agent", "--scope", "foo:bar"], "seeded", 2, "unknown scope 'foo:bar'"),
    (
        ["token", "app", "--scope", "availability:read", "--resource", "http://x/y"],
        "seeded",
        2,
        "target",
    ),
    (["chat", ""], "", 2, "say what the user asks"),
    (["chat", "   "], "", 2, "say what the user asks"),
    (["chat"], "", 2, "required: request"),
    (["chat", "--replay", "missing.jsonl", "hi"], "", 2, "missing.jsonl does not exist"),
    (["chat", "--replay", "{dir}", "hi"], "", 2, "is not a file"),
    (["chat", "--record", "{dir}", "hi"], "", 2, "is a folder"),
    (["chat", "--server", "nope", "hi"], "", 2, "not an http(s) URL"),
    (["chat", "--user", "mallory", "hi"], "", 2, "unknown demo user 'mallory'"),
    (["chat", "--agent", "mallory", "hi"], "", 2, "unknown agent 'mallory'"),
    (["chat", "--server", UNREACHABLE, "hi"], "", 1, "cannot reach"),
    (["demo", "--bogus"], "", 2, "unrecognized arguments"),
    (["audit"], "", 2, "required: ACTION"),
    (["audit", "verify", "--db", "{corrupt}"], "", 2, "is not a SQLite database"),
    (["audit", "verify"], "corrupt-db", 1, "is not a SQLite database"),
    (["audit", "show"], "corrupt-audit-key", 1, "audit key"),
    (["audit", "show", "--limit", "0"], "", 2, "not a positive number"),
    (["audit", "show", "--limit", "many"], "", 2, "not a whole number"),
    (["agents"], "", 2, "required: ACTION"),
    (["agents", "block"], "", 2, "required: agent"),
    (["agents", "block", "mallory"], "seeded", 2, "no such agent: mallory"),
    (["agents", "list", "--server", UNREACHABLE], "", 1, "cannot reach"),
    (["agents", "list"], "corrupt-db", 1, "is not a SQLite database"),
    (["tokens", "introspect"], "", 2, "required: token"),
    (["tokens", "revoke", "not-a-jwt"], "", 2, "not a JWT"),
    (["tokens", "introspect", "abc", "--server", UNREACHABLE], "", 1, "cannot reach"),
    (["keys"], "", 2, "required: ACTION"),
    (["keys", "rotate", "--server", UNREACHABLE], "", 2, "local state"),
    (["reset"], "corrupt-db", 2, "confirm with --yes"),
    (["reset", "--db", "{dir}"], "", 2, "is a folder"),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder seeded once (hashing the demo passwords is slow on purpose)."""
    home = tmp_path_factory.mktemp("seeded") / ".agent-iam"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENT_IAM_HOME", str(home))
        assert main(["token", "agent", "--scope", "availability:read"]) == 0
    return home


def _prepare(home: Path, state: str, seeded: Path) -> None:
    if state == "seeded":
        shutil.copytree(seeded, home)
    home.mkdir(parents=True, exist_ok=True)
    if state == "corrupt-db":
        (home / "iam.db").write_text("this is not a database\n")
    elif state == "corrupt-audit-key":
        (home / "audit-key.json").write_text("{not json")
    elif state == "corrupt-pem":
        (home / "agent-keys").mkdir()
        (home / "agent-keys" / "booking-assistant.pem").write_text("-----BEGIN nothing")


@pytest.mark.parametrize(("argv", "state", "code", "words"), CASES, ids=lambda v: str(v)[:40])
def test_a_mistake_gets_one_line_and_an_exit_code(
    argv: list[str],
    state: str,
    code: int,
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    seeded = request.getfixturevalue("seeded") if state == "seeded" else Path()
    home = tmp_path / ".agent-iam"
    monkeypatch.setenv("AGENT_IAM_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENT_IAM_DEBUG", raising=False)
    _prepare(home, state, seeded)
    (tmp_path / "corrupt.db").write_text("garbage")
    args = [a.format(dir=tmp_path, corrupt=tmp_path / "corrupt.db") for a in argv]
    assert main(args) == code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert words in lines[0], lines[0]
    assert "Traceback" not in out + err and "unexpected" not in lines[0]


def test_the_table_has_at_least_sixty_mistakes() -> None:
    assert len(CASES) >= 60


def _cli(*args: str, cwd: Path, stdout: int | None = subprocess.PIPE) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AGENT_IAM_HOME", "AGENT_IAM_DEBUG")}
    return subprocess.Popen(
        [sys.executable, "-m", "agent_iam", *args],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    """``agent-iam list --json | head -1``: no BrokenPipeError, no traceback, exit 0."""
    read, write = os.pipe()
    process = _cli("demo", "--json", cwd=tmp_path, stdout=write)
    os.close(write)
    os.close(read)  # the reader is gone before the command writes a byte
    _, err = process.communicate(timeout=60)
    assert err == "" and process.returncode == 0


def test_mistakes_through_the_shell_show_no_traceback(tmp_path: Path) -> None:
    (tmp_path / ".agent-iam").mkdir()
    (tmp_path / ".agent-iam" / "iam.db").write_text("not a database")
    for args, code in (
        (["audit", "verify"], 1),
        (["token", "agent", "--server", UNREACHABLE], 1),
    ):
        process = _cli(*args, cwd=tmp_path)
        _out, err = process.communicate(timeout=60)
        assert process.returncode == code, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("agent-iam ")
