"""Reports and the CLI: JSON as documented, JUnit that parses, HTML with nothing external."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from agent_iam import cli
from scenarios.catalogue import select
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask


def test_run_writes_three_reports(tmp_path: Path) -> None:
    out = {k: tmp_path / f"r.{k}" for k in ("json", "xml", "html")}
    code = cli.main(
        [
            "run",
            "c08",
            "--workers",
            "1",
            "--json",
            str(out["json"]),
            "--junit",
            str(out["xml"]),
            "--html",
            str(out["html"]),
        ]
    )
    assert code == 0
    doc = json.loads(out["json"].read_text())
    summary = doc["summary"]
    for key in (
        "attack_success_rate",
        "utility_rate",
        "utility_under_attack_rate",
        "baseline",
        "model",
        "seed",
        "duration_seconds",
        "attacks",
        "benign",
        "per_threat",
    ):
        assert key in summary
    assert summary["baseline"] is False and summary["attack_success_rate"] == 0
    ids = [s["id"] for s in doc["scenarios"]]
    assert ids == [i for s in select(["c08"]) for i in (s.id, f"{s.id}~benign")]
    for s in doc["scenarios"]:
        assert {
            "id",
            "title",
            "kind",
            "threats",
            "attack_succeeded",
            "utility",
            "passed",
            "expectations",
            "audit",
        } <= set(s)
        assert (s["attack_succeeded"] is None) == (s["kind"] == "benign")
        assert (s["utility"] is None) == (s["kind"] == "attack")
        assert all({"text", "passed"} <= set(e) for e in s["expectations"])
    suite = ET.parse(out["xml"]).getroot().find("testsuite")  # noqa: S314 — our own file
    assert suite is not None and suite.get("tests") == str(len(ids))
    page = out["html"].read_text()
    assert not re.search(r"<(script|link|img)\b", page)
    assert "http://" not in page.split("<h2>Runs</h2>")[0]
    assert "owner mismatch" in page


def test_baseline_run_passes_when_attacks_succeed_there(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "c08a", "--baseline", "--workers", "1"]) == 0
    assert "succeeded" in capsys.readouterr().out


def test_a_failed_expectation_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    impossible = Scenario(
        id="zz-impossible",
        title="expects a denial that never happens",
        case=99,
        threats=("T3",),
        steps=(Ask("booking-assistant", "Show my bookings", user="alice", attacker=True),),
        attack=lambda run: False,
        utility=lambda run: True,
        checks=(denied(service="payment", reason="never"),),
    )
    monkeypatch.setattr("agent_iam.run.select", lambda ids: [impossible])
    assert cli.main(["run", "zz", "--workers", "1"]) == 1


def test_list_and_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    assert "c01a-review" in capsys.readouterr().out
    assert cli.main(["run", "nothing-like-this"]) == 2


def test_the_readme_example_scenario_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's “Adding a scenario” example is a working scenario file."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r'```python\n("""A review asks.*?)```', readme, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README example", "exec"), namespace)  # noqa: S102
    (example,) = namespace["SCENARIOS"]  # type: ignore[misc]
    monkeypatch.setattr("agent_iam.run.select", lambda ids: [example])
    assert cli.main(["run", "x01", "--workers", "1"]) == 0
    assert cli.main(["run", "x01", "--workers", "1", "--baseline"]) == 0
