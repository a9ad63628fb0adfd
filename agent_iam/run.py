"""``agent-iam run`` and ``agent-iam list``: the catalogue from the command line.

``run`` shows a progress bar, then one row per scenario (attack and benign twin side by
side) and the metrics per threat; it writes the JSON, JUnit and HTML reports when asked.
Its exit code is 0 exactly when every expectation held (in baseline mode, the baseline's).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scenarios import report
from scenarios.catalogue import catalogue, select
from scenarios.runner import Outcome, run_catalogue


def list_scenarios(console: Console) -> int:
    table = Table(title=f"{len(catalogue())} scenarios (each also runs as its benign twin)")
    for column in ("id", "case", "threats", "title"):
        table.add_column(column, overflow="fold")
    for s in catalogue():
        table.add_row(s.id, str(s.case), " ".join(s.threats), s.title)
    console.print(table)
    return 0


def run_scenarios(
    console: Console,
    ids: list[str],
    *,
    baseline: bool,
    model: str | None,
    seed: int,
    workers: int | None,
    json_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
) -> int:
    try:
        chosen = select(ids)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red] (see agent-iam list)")
        return 2
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        mode = "baseline" if baseline else "agent IAM"
        task = progress.add_task(f"running scenarios ({mode})", total=2 * len(chosen))
        result = run_catalogue(
            chosen,
            baseline=baseline,
            seed=seed,
            model=model or "embedded-obedient",
            workers=workers,
            on_done=lambda outcome: progress.advance(task),
        )
    _print(console, result.outcomes, baseline)
    s = report.summary(result)
    _print_threats(console, s)
    console.print(
        f"[bold]attack success rate {report.pct(s['attack_success_rate'])}[/bold] "
        f"({s['attacks_succeeded']}/{s['attacks']}) · utility {report.pct(s['utility_rate'])} "
        f"({s['benign_succeeded']}/{s['benign']}) · utility under attack "
        f"{report.pct(s['utility_under_attack_rate'])} · "
        f"{s['passed']}/{s['runs']} runs as expected "
        f"· {s['duration_seconds']} s (median run {s['median_run_ms']} ms) · "
        f"{'baseline (no agent IAM)' if baseline else 'agent IAM'} · model {s['model']}"
    )
    for path, write in (
        (json_path, report.write_json),
        (junit_path, report.write_junit),
        (html_path, report.write_html),
    ):
        if path is not None:
            write(result, path)
            console.print(f"wrote {path}")
    return 0 if s["failed"] == 0 else 1


def _print(console: Console, outcomes: list[Outcome], baseline: bool) -> None:
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
