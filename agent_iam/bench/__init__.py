"""``agent-iam bench``: the benchmarks, one suite per module over a shared harness.

Suites: ``iam`` (token mint and verify against raw ES256, audit verify, ``POST /token`` over
a socket), ``hotel`` (the guard's overhead against the unguarded route, revocation latency),
``agents`` (one whole agent conversation), ``run`` (one scenario run, and the catalogue),
``stores`` (``POST /token`` with 1 and 2 workers on SQLite and on PostgreSQL, side by side).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from agent_iam.bench.harness import (
    Figure,
    Settings,
    busy_warning,
    environment,
    markdown_table,
    print_report,
    write_json,
)

SUITES = ("iam", "hotel", "agents", "run", "stores")


def run_suites(
    names: Sequence[str], settings: Settings, console: Console | None = None
) -> list[Figure]:
    """Each suite in turn; progress goes to ``console``."""
    figures: list[Figure] = []
    for name in names:
        if console is not None:
            console.print(f"[dim]bench {name} …[/]")
        module = importlib.import_module(f"agent_iam.bench.{name}")
        figures += module.run(settings)
    return figures


def run_bench(
    console: Console,
    suite: str,
    *,
    quick: bool = False,
    json_path: Path | None = None,
    markdown: bool = False,
) -> int:
    """``agent-iam bench``: run, print every figure with its goal; 0 even if goals are missed
    (a benchmark reports, it does not fail a build)."""
    names = SUITES if suite == "all" else (suite,)
    env = environment()
    warning = busy_warning(env)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")
    started = time.perf_counter()
    figures = run_suites(names, Settings(quick=quick), console)
    seconds = time.perf_counter() - started
    mode = "quick" if quick else "full"
    print_report(console, figures, f"agent-iam bench {suite} ({mode}, {seconds:.0f} s)")
    if markdown:
        console.print(markdown_table(figures), markup=False, highlight=False, soft_wrap=True)
    met = sum(f.ok is True for f in figures)
    goals = sum(f.ok is not None for f in figures)
    console.print(
        f"{met} of {goals} goals met; Python {env['python']}, {env['cpus']} CPU, "
        f"load average at start {(env['loadavg_at_start'] or [0.0])[0]:.2f}; "
        f"total wall time {seconds:.1f} s"
    )
    if json_path is not None:
        write_json(
            json_path,
            figures,
            {"suite": suite, "quick": quick, "seconds": seconds, "environment": env},
        )
        console.print(f"wrote {json_path}")
    return 0
