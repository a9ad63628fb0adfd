"""The operator's commands on the local state folder, and the run selection options."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from agent_iam.cli import _parser, main
from agent_iam.run import choose, matches
from scenarios.catalogue import catalogue


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENT_IAM_HOME", str(tmp_path / ".agent-iam"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".agent-iam"


def _audit(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["audit", "show", "--json", "--limit", "500"]) == 0
    return list(json.loads(capsys.readouterr().out))


def test_blocking_an_agent_revokes_its_tokens_and_is_audited_as_over_scim(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "agent", "--scope", "availability:read"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["agents", "block", "booking-assistant"]) == 0
    assert main(["agents", "list", "--json"]) == 0
    agents = {a["id"]: a["status"] for a in json.loads(capsys.readouterr().out.split("\n", 1)[1])}
    assert agents["booking-assistant"] == "blocked"
    assert main(["tokens", "introspect", token]) == 1  # no longer active
    assert main(["agents", "unblock", "booking-assistant"]) == 0
    assert main(["agents", "list"]) == 0  # the table renders SCIM's owner reference
    assert "booking-assistant" in capsys.readouterr().out
    entries = _audit(capsys)
    events = [(e["event"], e["sub"], e["object_id"]) for e in entries]
    assert ("agent.blocked", "iam-admin", "booking-assistant") in events
    assert ("agent.unblocked", "iam-admin", "booking-assistant") in events


def test_introspect_and_revoke_a_token(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "app", "--scope", "availability:hold"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["tokens", "introspect", token]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is True
    assert main(["tokens", "revoke", token]) == 0
    assert main(["tokens", "introspect", token]) == 1
    assert any(e["event"] == "token.revoked" for e in _audit(capsys))


def test_keys_rotate_makes_a_new_signer_and_is_audited(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "agent", "--scope", "availability:read"]) == 0
    before = jwt.get_unverified_header(capsys.readouterr().out.strip())["kid"]
    assert main(["keys", "rotate"]) == 0
    assert main(["token", "agent", "--scope", "availability:read"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert jwt.get_unverified_header(out)["kid"] != before
    assert any(e["event"] == "keys.rotated" for e in _audit(capsys))


def test_reset_with_yes_starts_the_demo_world_afresh(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "agent", "--scope", "availability:read"]) == 0
    assert (home / "iam.db").exists()
    assert main(["reset", "--yes"]) == 0
    assert not (home / "iam.db").exists() and not (home / "audit-key.json").exists()
    assert main(["agents", "list", "--json"]) == 0  # seeded again on first use


def test_scopes_of_two_services_give_one_token_per_service(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["token", "obo", "--scope", "booking:create payment:charge", "--json"]
    assert main(argv) == 0
    responses = json.loads(capsys.readouterr().out)
    assert [r["audience"].rsplit("/", 1)[-1] for r in responses] == ["booking", "payment"]
    assert [r["scope"] for r in responses] == ["booking:create", "payment:charge"]


def test_demo_shows_redirect_uris_and_whole_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8400/callback" in out
    assert "iam-admin-demo-secret-0123456789abcdef" in out and "…" not in out


def test_list_as_json_and_plain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == {s.id for s in catalogue()}
    assert main(["list", "--plain"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[0] == rows[0]["id"]


def test_keyword_expressions_choose_scenarios() -> None:
    first = catalogue()[0]
    assert matches(first.id, first)
    assert not matches(f"not {first.id}", first)
    assert matches(f"({first.id} or zzz) and not zzz", first)


def test_repeated_keywords_choose_scenarios_matching_any() -> None:
    """``-k c15 -k c23`` runs both cases, not only the last one named."""
    args = _parser().parse_args(["run", "-k", "c15", "-k", "c23"])
    assert {s.case for s in choose(args)} == {15, 23}


def test_run_one_scenario_into_an_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = catalogue()[0]
    out = tmp_path / "runs"
    code = main(["run", first.id, "-x", "--workers", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().out
    folder = out / first.id
    assert {p.name for p in folder.iterdir()} == {"transcript.json", "audit.json", "report.json"}
    assert (out / f"{first.id}-benign" / "report.json").exists()
    assert json.loads((out / "report.json").read_text())["summary"]["runs"] == 2


def test_disabling_an_app_revokes_its_tokens_refuses_it_and_is_audited(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "app", "--scope", "availability:hold"]) == 0  # booking-backend's
    token = capsys.readouterr().out.strip()
    assert main(["apps", "disable", "booking-backend"]) == 0
    assert "1 live token(s) revoked" in capsys.readouterr().out
    assert main(["tokens", "introspect", token]) == 1
    assert main(["token", "app", "--scope", "availability:hold"]) != 0  # no secret works
    assert "invalid_client" in capsys.readouterr().err
    assert main(["apps", "list", "--json"]) == 0
    apps = {a["id"]: a["status"] for a in json.loads(capsys.readouterr().out)}
    assert apps["booking-backend"] == "disabled" and apps["hotel-chat"] == "active"
    assert main(["apps", "enable", "booking-backend"]) == 0
    assert main(["tokens", "introspect", token]) == 1  # enabling revives no token
    events = [(e["event"], e["sub"], e["object_id"]) for e in _audit(capsys)]
    assert ("app.disabled", "iam-admin", "booking-backend") in events
    assert ("app.enabled", "iam-admin", "booking-backend") in events


def test_apps_commands_say_what_is_wrong(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apps", "disable", "no-such-app"]) == 2
    assert "no such app: no-such-app" in capsys.readouterr().err
    assert main(["apps", "list", "--server", "http://127.0.0.1:1"]) == 2
    assert "local state" in capsys.readouterr().err
