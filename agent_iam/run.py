"""``agent-iam run`` and ``agent-iam list``: the catalogue from the command line.

``run`` shows a progress bar, then one row per scenario (attack and benign twin side by
side) and the metrics per threat — or, for several deployment profiles or threat models
(``--profile``, ``--ladder``), the matrix attack × profile. It writes the JSON, JUnit and
HTML reports when asked. Exit code: 2 when any run errored (its model failed: never a
result), else 1 when an expectation failed, else 0.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scenarios import report
from scenarios.catalogue import catalogue, select
from scenarios.profiles import PROFILES, profile
from scenarios.runner import (
    COMPROMISED,
    WORST_CASE_MODEL,
    CatalogueResult,
    Outcome,
    default_model,
    run_catalogue,
)

LADDER_MODELS = (WORST_CASE_MODEL, COMPROMISED)


def list_profiles(console: Console) -> int:
    table = Table(title=f"{len(PROFILES)} deployment profiles (--baseline = shared-key)")
    for column in ("profile", "what it is", "weakenings"):
        table.add_column(column, overflow="fold")
    for p in PROFILES:
        table.add_row(p.name, p.summary, "\n".join(p.weakenings) or "—")
    console.print(table)
    return 0


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
    model: list[str] | str | None,
    seed: int,
    workers: int | None,
    json_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
    profiles: list[str] | None = None,
    ladder: bool = False,
) -> int:
    try:
        chosen = select(ids)
        names = [profile(p).name for p in profiles or ()]
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red] (see agent-iam list, agent-iam profiles)")
        return 2
    if ladder:
        names = [p.name for p in PROFILES]
    names = names or (["shared-key"] if baseline else ["agent-iam"])
    models = [model] if isinstance(model, str) else list(model or ())
    models = models or (list(LADDER_MODELS) if ladder else [default_model()])
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        mode = ", ".join(names)
        total = 2 * len(chosen) * len(names) * len(models)
        task = progress.add_task(f"running scenarios ({mode})", total=total)
        result = run_catalogue(
            chosen,
            seed=seed,
            workers=workers,
            on_done=lambda outcome: progress.advance(task),
            profiles=names,
            models=models,
        )
    errors = [o for o in result.outcomes if o.error]
    if len(names) * len(models) > 1:
        return _matrix_report(console, result, json_path, junit_path, html_path, errors)
    _print(console, result.outcomes, names == ["shared-key"])
    s = report.summary(result)
    _print_threats(console, s)
    console.print(
        f"[bold]attack success rate {report.pct(s['attack_success_rate'])}[/bold] "
        f"({s['attacks_succeeded']}/{s['attacks']}) · utility {report.pct(s['utility_rate'])} "
        f"({s['benign_succeeded']}/{s['benign']}) · utility under attack "
        f"{report.pct(s['utility_under_attack_rate'])} · "
        f"{s['passed']}/{s['runs']} runs as expected "
        f"· {s['duration_seconds']} s (median run {s['median_run_ms']} ms) · "
        f"profile {names[0]} · model {s['model']}"
    )
    _print_errors(console, errors)
    for path, write in (
        (json_path, report.write_json),
        (junit_path, report.write_junit),
        (html_path, report.write_html),
    ):
        if path is not None:
            write(result, path)
            console.print(f"wrote {path}")
    return 2 if errors else 0 if s["failed"] == 0 else 1


def _print_errors(console: Console, errors: list[Outcome]) -> None:
    if errors:
        console.print(
            f"[red bold]{len(errors)} run(s) errored[/red bold] — counted apart, never as "
            f"results (exit 2). First: {errors[0].id} ({errors[0].profile}, "
            f"{errors[0].model}): {errors[0].error}"
        )


def _matrix_report(
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
    for path, write in (
        (json_path, report.write_json),
        (junit_path, report.write_junit),
        (html_path, report.write_html),
    ):
        if path is not None:
            write(result, path)
            console.print(f"wrote {path}")
    return 2 if errors else 1 if failed else 0


def _cell(cell: dict[str, str] | None) -> str:
    if cell is None:
        return "—"
    style = {"HARM": "red", "stopped": "green", "not attempted": "dim", "ERROR": "magenta"}
    return f"[{style.get(cell['verdict'], 'white')}]{cell['verdict']}[/]"


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
