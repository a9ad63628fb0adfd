"""What ``agent-iam run`` shows and writes once its runs are done.

``run.py`` turns the command line into a selection and runs it; this module presents the
result: for one profile and one threat model, a row per scenario (attack and benign twin
side by side) and the metrics per threat; for several, the matrix attack × profile, one
table per threat model. Then the JSON, JUnit and HTML reports when asked
(``scenarios.report``, ``scenarios.report_html``), and with ``--out DIR`` one folder per
run. Every figure comes from ``scenarios.report``: the terminal computes none of its own,
so it cannot disagree with the reports.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scenarios import report, report_html
from scenarios.runner import CatalogueResult, Outcome


def single_report(
    console: Console,
    result: CatalogueResult,
    profile: str,
    json_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
    errors: list[Outcome],
) -> int:
    """One profile and one threat model: a row per scenario, the metrics per threat, the
    summary line, then the reports. The exit code (``run.py``)."""
    _print_pairs(console, result.outcomes, profile == "shared-key")
    s = report.summary(result)
    _print_threats(console, s)
    console.print(
        f"[bold]attack success rate {report.pct(s['attack_success_rate'])}[/bold] "
        f"({s['attacks_succeeded']}/{s['attacks']}) · utility {report.pct(s['utility_rate'])} "
        f"({s['benign_succeeded']}/{s['benign']}) · utility under attack "
        f"{report.pct(s['utility_under_attack_rate'])} · "
        f"{s['passed']}/{s['runs']} runs as expected "
        f"· {s['duration_seconds']} s (median run {s['median_run_ms']} ms) · "
        f"profile {profile} · model {s['model']}"
    )
    _print_errors(console, errors)
    _write_reports(console, result, json_path, junit_path, html_path)
    return 2 if errors else 0 if s["failed"] == 0 else 1


def matrix_report(
    console: Console,
    result: CatalogueResult,
    json_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
    errors: list[Outcome],
) -> int:
    """The matrix attack × profile, one table per threat model."""
    matrix = report.matrix(result)
    for model in result.models:
        table = Table(title=f"attack × profile — threat model {model}")
        table.add_column("attack", overflow="fold")
        for name in result.profiles:
            table.add_column(name, overflow="fold")
        for scenario, row in matrix[model]["rows"].items():
            table.add_row(scenario, *(_cell(row.get(p)) for p in result.profiles))
        totals = matrix[model]["totals"]
        table.add_row(
            "[bold]harm done / attempted / errors · utility[/bold]",
            *(
                f"{t['succeeded']}/{t['attempted']}/{t['errors']} · {report.pct(t['utility'])}"
                for t in (totals[p] for p in result.profiles)
            ),
        )
        console.print(table)
    failed = [o for o in result.outcomes if not o.passed and not o.error]
    for o in failed:
        bad = [e["text"] for e in o.expectations if not e["passed"]]
        console.print(f"[red]✗[/red] {o.id} ({o.profile}, {o.model}): {'; '.join(bad)}")
    console.print(f"{len(result.outcomes)} runs in {result.seconds:.1f} s")
    _print_errors(console, errors)
    _write_reports(console, result, json_path, junit_path, html_path)
    return 2 if errors else 1 if failed else 0


def _cell(cell: dict[str, str] | None) -> str:
    if cell is None:
        return "—"
    style = {"HARM": "red", "stopped": "green", "not attempted": "dim", "ERROR": "magenta"}
    return f"[{style.get(cell['verdict'], 'white')}]{cell['verdict']}[/]"


def _print_pairs(console: Console, outcomes: list[Outcome], baseline: bool) -> None:
    table = Table(title="with the baseline (one shared API key)" if baseline else "with agent IAM")
    for column in (
        "scenario",
        "threats",
        "attack",
        "utility under attack",
        "benign twin",
        "as expected",
    ):
        table.add_column(column, overflow="fold")
    pairs: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        pairs.setdefault(o.scenario, {})[o.kind] = o
    for scenario, pair in pairs.items():
        attack, twin = pair.get("attack"), pair.get("benign")
        succeeded = attack.attack_succeeded if attack else None
        table.add_row(
            scenario,
            " ".join(attack.threats if attack else twin.threats if twin else []),
            "[red]succeeded[/red]" if succeeded else "[green]stopped[/green]" if attack else "—",
            _flag(attack.utility_under_attack if attack else None),
            _flag(twin.utility if twin else None),
            "[green]yes[/green]" if all(o.passed for o in pair.values()) else "[red]NO[/red]",
        )
    console.print(table)
    for o in outcomes:
        for e in o.expectations:
            if not e["passed"]:
                console.print(f"[red]✗[/red] {o.id}: {e['text']}")
        if o.error:
            console.print(f"[red]✗[/red] {o.id}: {o.error}")


def _flag(value: bool | None) -> str:
    return "—" if value is None else "[green]done[/green]" if value else "[yellow]not done[/yellow]"


def _print_threats(console: Console, s: dict[str, object]) -> None:
    table = Table(title="by threat")
    for column in ("threat", "attacks", "succeeded", "attack success rate", "utility"):
        table.add_column(column)
    rows = s["per_threat"]
    assert isinstance(rows, dict)
    for threat, row in rows.items():
        table.add_row(
            threat,
            str(row["attacks"]),
            str(row["attacks_succeeded"]),
            report.pct(row["attack_success_rate"]),
            report.pct(row["utility_rate"]),
        )
    console.print(table)


def _print_errors(console: Console, errors: list[Outcome]) -> None:
    if errors:
        console.print(
            f"[red bold]{len(errors)} run(s) errored[/red bold] — counted apart, never as "
            f"results (exit 2). First: {errors[0].id} ({errors[0].profile}, "
            f"{errors[0].model}): {errors[0].error}"
        )


def _write_reports(
    console: Console,
    result: CatalogueResult,
    json_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
) -> None:
    for path, write in (
        (json_path, report.write_json),
        (junit_path, report.write_junit),
        (html_path, report_html.write_html),
    ):
        if path is not None:
            write(result, path)
            console.print(f"wrote {path}")


def write_runs(result: CatalogueResult, out: Path) -> None:
    """One folder per run — transcript (its steps), audit entries, outcome — and the reports."""
    for o in result.outcomes:
        folder = out / o.id.replace("~", "-")
        folder.mkdir(parents=True, exist_ok=True)
        outcome = {k: v for k, v in o.to_dict().items() if k not in ("sequence", "audit")}
        for name, body in (
            ("transcript.json", o.sequence),
            ("audit.json", o.audit),
            ("report.json", outcome),
        ):
            (folder / name).write_text(json.dumps(body, indent=2, default=str) + "\n")
    report.write_json(result, out / "report.json")
    report.write_junit(result, out / "junit.xml")
    report_html.write_html(result, out / "report.html")
