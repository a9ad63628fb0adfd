"""What every benchmark suite shares: figures with their goals, interleaved repetitions, the
timing loops, and the report (a rich table, a markdown table, JSON).

A :class:`Figure` always carries the side-by-side baseline it is measured against and its goal,
so no figure is printed without saying what it should be and whether it is.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Figure:
    """One benchmark figure: what was measured, against what, and its goal.

    ``measured`` is the number the goal judges (a ratio, a rate, a latency), already
    formatted; ``ok`` is None for context figures that have no goal.
    """

    suite: str
    name: str
    result: str
    baseline: str
    measured: str
    goal: str
    ok: bool | None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "context"}[self.ok]


@dataclass
class Settings:
    """How hard a suite works: ``quick`` is the smoke run; ``scale`` shrinks every count
    further (tests run the real code paths at a tiny ``scale``)."""

    quick: bool = False
    scale: float = 1.0

    def count(self, full: int, quick: int, minimum: int = 1) -> int:
        return max(minimum, round((quick if self.quick else full) * self.scale))


# -- timing ---------------------------------------------------------------------------------------
def us_per_op(fn: Callable[[], object], n: int) -> float:
    """µs per call of ``fn`` over ``n`` calls in a tight loop."""
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def interleaved(sides: Mapping[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Each side's sample ``reps`` times, in turn (A, B, A, B, …), after one warm-up each.

    Machine drift (another process waking up, a frequency change) then hits every side alike,
    and :func:`median_ratio` of the paired samples stays steady where separate runs would not.
    """
    for sample in sides.values():
        sample()
    out: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(reps):
        for name, sample in sides.items():
            out[name].append(sample())
    return out


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median of the per-repetition ratios a/b: the drift-robust ratio of paired samples."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc; NaN elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


# -- figures --------------------------------------------------------------------------------------
def ratio_figure(
    suite: str,
    name: str,
    value: float,
    baseline: float,
    ratio: float,
    *,
    against: str,
    goal: float,
    unit: str,
) -> Figure:
    """A cost against its baseline's cost; the goal bounds the ratio from above."""
    return Figure(
        suite,
        name,
        f"{value:,.1f} {unit}",
        f"{against} {baseline:,.1f} {unit}",
        f"{ratio:.2f}×",
        f"≤ {goal:g}×",
        ratio <= goal,
        {"value": value, "baseline": baseline, "ratio": ratio, "goal": goal, "unit": unit},
    )


# -- the report -----------------------------------------------------------------------------------
COLUMNS = ("suite", "figure", "result", "baseline (side by side)", "measured", "goal", "")


def environment() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
    }


def busy_warning(env: Mapping[str, Any]) -> str | None:
    load = (env.get("loadavg_at_start") or [0.0])[0]
    if load > 0.5 * (env.get("cpus") or 1):
        return (
            f"load average {load:.2f} at start: other processes compete for the CPUs, so the "
            "figures are noisy (ratios and CPU per request suffer least); rerun on an idle machine."
        )
    return None


def print_report(console: Console, figures: Sequence[Figure], title: str) -> None:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="right" if column == "measured" else "left")
    for f in figures:
        style = {True: "[green]met[/]", False: "[red]MISSED[/]", None: "[dim]context[/]"}[f.ok]
        table.add_row(f.suite, f.name, f.result, f.baseline, f.measured, f.goal, style)
    console.print(table)


def markdown_table(figures: Sequence[Figure]) -> str:
    """The same table in markdown, as the README's benchmark section shows it."""
    lines = [
        "| suite | figure | result | baseline (side by side) | measured | goal | |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        cells = (f.suite, f.name, f.result, f.baseline, f.measured, f.goal, f.verdict)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, figures: Sequence[Figure], extra: Mapping[str, Any]) -> None:
    doc = {**extra, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(doc, indent=2, default=str))
