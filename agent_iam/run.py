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

This module reads the command line and runs the selection; the tables, the reports and the
run folders are ``run_output.py``, so choosing and running can be read without the layout.
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

from agent_iam import recorded, run_output
from agent_iam.errors import UsageError
from scenarios.catalogue import catalogue, select
from scenarios.injections import expand
from scenarios.model import Scenario
from scenarios.profiles import PROFILES, profile
from scenarios.recordings import Tapes
from scenarios.runner import (
    COMPROMISED,
    WORST_CASE_MODEL,
    CatalogueResult,
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
        run_output.write_runs(result, out)
        console.print(f"wrote {len(result.outcomes)} run folders and the reports to {out}")
    if stop_first and len(result.outcomes) < total:
        console.print("[red]stopped at the first run that did not go as expected (-x)[/red]")
    errors = [o for o in result.outcomes if o.error]
    if len(names) * len(models) > 1:
        return run_output.matrix_report(console, result, json_path, junit_path, html_path, errors)
    return run_output.single_report(
        console, result, names[0], json_path, junit_path, html_path, errors
    )


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
