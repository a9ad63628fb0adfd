"""The benchmark harness on tiny settings: what is printed, never how fast anything is."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from agent_iam import cli
from agent_iam.bench import harness
from agent_iam.bench import iam as iam_suite
from agent_iam.bench import run as run_suite
from agent_iam.bench.apps import build_iam_on
from agent_iam.bench.harness import Figure, Settings

TINY = Settings(quick=True, scale=0.01)


def _printed(figures: list[Figure]) -> str:
    out = io.StringIO()
    harness.print_report(Console(file=out, width=300), figures, "bench")
    return out.getvalue()


def test_interleaving_alternates_the_sides_after_one_warm_up_each() -> None:
    calls: list[str] = []

    def side(name: str) -> float:
        calls.append(name)
        return float(len(calls))

    runs = harness.interleaved({"a": lambda: side("a"), "b": lambda: side("b")}, 3)
    assert calls == ["a", "b"] * 4
    assert runs == {"a": [3.0, 5.0, 7.0], "b": [4.0, 6.0, 8.0]}
    assert harness.median_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 4.0]) == 2.0


def test_each_figure_is_printed_with_its_baseline_goal_and_verdict(tmp_path: Path) -> None:
    figures = [
        harness.ratio_figure("s", "cheap op", 10.0, 8.0, 1.25, against="raw", goal=1.5, unit="µs"),
        harness.ratio_figure("s", "dear op", 30.0, 8.0, 3.75, against="raw", goal=2.5, unit="µs"),
        Figure("s", "context", "1", "2", "3", "—", None),
    ]
    text = _printed(figures)
    for expected in ("cheap op", "raw 8.0 µs", "1.25×", "≤ 1.5×", "met", "MISSED", "context"):
        assert expected in text
    markdown = harness.markdown_table(figures).splitlines()
    assert markdown[0].startswith("| suite | figure |")
    assert markdown[2] == "| s | cheap op | 10.0 µs | raw 8.0 µs | 1.25× | ≤ 1.5× | met |"
    assert markdown[3].endswith("| 3.75× | ≤ 2.5× | MISSED |")
    harness.write_json(tmp_path / "b.json", figures, {"quick": True})
    doc = json.loads((tmp_path / "b.json").read_text())
    assert [f["name"] for f in doc["figures"]] == ["cheap op", "dear op", "context"]


def test_iam_suite_in_process_figures(tmp_path: Path) -> None:
    iam = build_iam_on(tmp_path, "http://127.0.0.1:8000")
    try:
        figures = [*iam_suite.crypto_figures(iam, TINY), iam_suite.audit_figure(iam, TINY)]
    finally:
        iam.store.close()
    text = _printed(figures)
    for expected in (
        "token mint (Agent token)",
        "raw ES256 JWS sign",
        "≤ 1.3×",
        "token verify",
        "raw ES256 verify",
        "≤ 1.5×",
        "audit verify",
        "bare SHA-256 chain",
        "≥ 300,000/s",
    ):
        assert expected in text


def test_run_suite_with_one_run_per_side() -> None:
    figures = run_suite.run(Settings(quick=True), count=1)
    text = _printed(figures)
    for expected in (
        "one scenario run",
        "stack reused",
        "a stack built for each run",
        "≤ 10 ms",
        "baseline deployment",
        "≤ 2×",
        "attack catalogue with agent IAM",
        "estimate",
        "≤ 10 s",
        "the ladder",
        "≤ 60 s",
    ):
        assert expected in text
    assert all(f.ok is not None for f in figures)


@pytest.mark.parametrize("argv", [["bench", "nope"], ["bench", "--count", "3"]])
def test_bad_bench_arguments_are_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agent-iam bench: ")
    assert len(err.strip().splitlines()) == 1
