"""``agent-iam run``, ``list`` and ``profiles``: the catalogue from the command line.

``run`` shows a progress bar, then one row per scenario (attack and benign twin side by
side) and the metrics per threat — or, for several deployment profiles or threat models
(``--profile``, ``--ladder``), the matrix attack × profile. It writes the JSON, JUnit and
HTML reports when asked, and with ``--out DIR`` one folder per run (its transcript, audit
entries and outcome). Scenarios are chosen by id or prefix, ``-k`` keyword expression and
``--threat``; ``-x`` runs them one at a time and stops at the first that does not go as
expected. ``--record DIR`` keeps each run's model exchanges, ``--replay DIR`` replays them
offline (``recorded.py``). Exit code: 2 when any run errored (its model failed, or its
replay diverged: never a result), else 1 when an expectation failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent_iam import recorded
from agent_iam.errors import UsageError
from scenarios import report
from scenarios.catalogue import catalogue, select
from scenarios.injections import expand
from scenarios.model import Scenario
from scenarios.profiles import PROFILES, profile
from scenarios.recordings import Tapes
from scenarios.runner import (
    COMPROMISED,
    WORST_CASE_MODEL,
    CatalogueResult,
    Outcome,
    default_model,
    run_catalogue,
)

LADDER_MODELS = (WORST_CASE_MODEL, COMPROMISED)


_WORD = re.compile(r"\(|\)|[^\s()]+")


def matches(expression: str, scenario: Scenario) -> bool:
    """pytest-like ``-k``: words (substrings of id, title, threats) with and/or/not/()."""
    haystack = " ".join((scenario.id, scenario.title, *scenario.threats)).lower()
    parts = []
    for token in _WORD.findall(expression):
        if token in ("and", "or", "not", "(", ")"):
            parts.append(token)
        else:
            parts.append(str(token.lower() in haystack))
    try:
        # Only True/False literals and operators reach eval (the words were replaced).
        return bool(eval(" ".join(parts) or "True", {"__builtins__": {}}, {}))  # noqa: S307
    except SyntaxError:
        raise UsageError(f"-k: not a keyword expression: {expression!r}") from None


def choose(args: argparse.Namespace) -> list[Scenario]:
    try:
        chosen = select(args.ids)
    except KeyError as exc:
        raise UsageError(f"{exc.args[0]} (see agent-iam list)") from None
    if args.keyword:
        # Repeated -k: any of them (like repeated ids and --threat), never only the last.
        chosen = [s for s in chosen if any(matches(k, s) for k in args.keyword)]
    if args.threat:
        known = {t.upper() for s in catalogue() for t in s.threats}
        wanted = {t.upper() for t in args.threat}
        unknown = sorted(wanted - known)
        if unknown:
            raise UsageError(
                f"unknown threat {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        chosen = [s for s in chosen if wanted & {t.upper() for t in s.threats}]
    try:  # --injections: the cases with an injection goal, once per style
        chosen = expand(chosen, getattr(args, "injections", None))
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if not chosen:
        raise UsageError("no scenario matches this selection (see agent-iam list)")
    return chosen


def list_command(args: argparse.Namespace) -> int:
    scenarios = catalogue()
    if args.json:
        rows = [
            {"id": s.id, "case": s.case, "threats": list(s.threats), "title": s.title}
            for s in scenarios
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if args.plain or not sys.stdout.isatty():
        for s in scenarios:
            print(f"{s.id}\t{s.case}\t{' '.join(s.threats)}\t{s.title}")
        return 0
    return list_scenarios(Console())


def run_command(console: Console, args: argparse.Namespace) -> int:
    tapes, index = recorded.tapes_of(args)  # --record/--replay DIR (recorded.py)
    replayed = recorded.apply_index(args, index) if index is not None else None
    chosen = replayed or choose(args)
    return run_scenarios(
        console,
        chosen,
        baseline=args.baseline,
        model=args.model,
        seed=0 if args.seed is None else args.seed,
        workers=args.workers,
        json_path=args.json,
        junit_path=args.junit,
        html_path=args.html,
        profiles=args.profile,
        ladder=args.ladder,
        stop_first=args.exitfirst,
        out=args.out,
        tapes=tapes,
    )


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
    table.add_column("id", no_wrap=True)  # ids are copied into commands: never cut them
    for column in ("case", "threats", "title"):
        table.add_column(column, overflow="fold")
    for s in catalogue():
        table.add_row(s.id, str(s.case), " ".join(s.threats), s.title)
    console.print(table)
    return 0


def run_scenarios(
    console: Console,
    chosen: list[Scenario],
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
    stop_first: bool = False,
    out: Path | None = None,
    tapes: Tapes | None = None,
) -> int:
    try:
        names = [profile(p).name for p in profiles or ()]
    except KeyError as exc:
        raise UsageError(f"{exc.args[0]} (see agent-iam profiles)") from None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if ladder:
        names = [p.name for p in PROFILES]
    names = names or (["shared-key"] if baseline else ["agent-iam"])
    models = [model] if isinstance(model, str) else list(model or ())
    models = models or (list(LADDER_MODELS) if ladder else [default_model()])
    recorded.before(tapes, chosen, names, models)
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
        result = _run(
            chosen,
            seed=seed,
            workers=workers,
            profiles=names,
            models=models,
            stop_first=stop_first,
            advance=lambda: progress.advance(task),
            tapes=tapes,
        )
    told = recorded.after(tapes, result, chosen)
    if told:
        console.print(told)
    if out is not None:
        write_runs(result, out)
        console.print(f"wrote {len(result.outcomes)} run folders and the reports to {out}")
    if stop_first and len(result.outcomes) < total:
        console.print("[red]stopped at the first run that did not go as expected (-x)[/red]")
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
    _write_reports(console, result, json_path, junit_path, html_path)
    return 2 if errors else 0 if s["failed"] == 0 else 1


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
        (html_path, report.write_html),
    ):
        if path is not None:
            write(result, path)
            console.print(f"wrote {path}")


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
    _write_reports(console, result, json_path, junit_path, html_path)
    return 2 if errors else 1 if failed else 0


def _cell(cell: dict[str, str] | None) -> str:
    if cell is None:
        return "—"
    style = {"HARM": "red", "stopped": "green", "not attempted": "dim", "ERROR": "magenta"}
    return f"[{style.get(cell['verdict'], 'white')}]{cell['verdict']}[/]"


def _run(
    chosen: list[Scenario],
    *,
    seed: int,
    workers: int | None,
    profiles: list[str],
    models: list[str],
    stop_first: bool,
    advance: object,
    tapes: Tapes | None = None,
) -> CatalogueResult:
    """The catalogue in parallel; with ``stop_first``, one scenario at a time, in order."""
    assert callable(advance)
    if not stop_first:
        return run_catalogue(
            chosen,
            seed=seed,
            workers=workers,
            profiles=profiles,
            models=models,
            on_done=lambda outcome: advance(),
            tapes=tapes,
        )
    merged: CatalogueResult | None = None
    for scenario in chosen:
        one = run_catalogue(
            [scenario],
            seed=seed,
            workers=1,
            profiles=profiles,
            models=models,
            on_done=lambda outcome: advance(),
            tapes=tapes,
        )
        if merged is None:
            merged = one
        else:
            merged.outcomes += one.outcomes
            merged.per_run += one.per_run
            merged.seconds += one.seconds
        if not all(o.passed for o in one.outcomes):
            break
    assert merged is not None
    return merged


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
    report.write_html(result, out / "report.html")


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
