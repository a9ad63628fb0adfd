"""Remove each check in turn, in a scratch copy of the repository, and see which test fails.

Usage::

    python -m tests.mutation [--profile quick|ci] [--only SUBSTRING] [--workers N]

For every entry of :data:`tests.mutation.mutations.MUTATIONS` the script edits the scratch
copy, runs the property tests that reach guard, policy and tokens (the stateful machine, JWT
mutants, delegation properties, IAM fuzz; the audit ones cannot see these checks) with the
``mutation`` hypothesis profile (no shrinking) and, if they all
pass, the guard and token tests too (tests/hotel/test_guard_rules.py,
tests/iam_core/test_token_verification.py), then restores the file. It prints the table
"check removed → test that caught it" and exits 1 if any mutant survived. It is a tool to run
by hand (minutes, not seconds); tests/mutation/test_table.py keeps the table in step with
the code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.mutations import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]
COPY = ("iam_core", "hotel", "agents", "scenarios", "tests", "pyproject.toml")
# The broadest tests first: with -x the first failure ends the run.
PROPERTY = [
    "tests/property/test_deployment_machine.py",
    "tests/property/test_jwt_mutation.py",
    "tests/property/test_delegation_properties.py",
    "tests/property/test_iam_fuzz.py",
]
UNIT = ["tests/hotel/test_guard_rules.py", "tests/iam_core/test_token_verification.py"]
_FAILED = re.compile(r"^FAILED (\S+)", re.MULTILINE)
_ERROR = re.compile(r"^ERROR (\S+)", re.MULTILINE)


@dataclass
class Outcome:
    mutation: Mutation
    caught_by: list[str]
    stage: str  # "property", "guard/token unit", or "" when it survived
    seconds: float


def scratch_copy(into: Path) -> Path:
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, into / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis")
            )
        else:
            shutil.copy2(source, into / name)
    return into


def _pytest(repo: Path, targets: list[str], profile: str) -> list[str]:
    """Run pytest on ``targets`` in ``repo``; the failing test ids (empty: all passed)."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rfE", *targets],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return []
    failed = _FAILED.findall(result.stdout) + _ERROR.findall(result.stdout)
    return failed or [f"pytest exit {result.returncode}: {result.stdout[-300:]}"]


def run_one(mutation: Mutation, profile: str) -> Outcome:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutant-") as folder:
        repo = scratch_copy(Path(folder))
        target = repo / mutation.file
        source = target.read_text()
        if source.count(mutation.snippet) != 1:
            return Outcome(mutation, ["snippet not found exactly once"], "table rot", 0.0)
        target.write_text(source.replace(mutation.snippet, mutation.replacement))
        caught = _pytest(repo, PROPERTY, profile)
        stage = "property"
        if not caught:
            caught, stage = _pytest(repo, UNIT, profile), "guard/token unit"
    return Outcome(mutation, caught, stage if caught else "", time.monotonic() - started)


def short(test_id: str) -> str:
    path, _, name = test_id.partition("::")
    return f"{Path(path).stem}::{name.split('[')[0]}" if name else test_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("--profile", default="mutation", help="hypothesis profile for the runs")
    parser.add_argument("--only", help="run the mutations whose name contains this")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or args.only in m.name]
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        outcomes = list(pool.map(lambda m: run_one(m, args.profile), chosen))
    width = max(len(o.mutation.name) for o in outcomes)
    print(f"{'check removed'.ljust(width)}  caught by")
    print(f"{'-' * width}  {'-' * 60}")
    for o in outcomes:
        found = ", ".join(short(t) for t in o.caught_by[:2]) if o.caught_by else "SURVIVED"
        tag = " (only the unit tests)" if o.stage == "guard/token unit" else ""
        print(f"{o.mutation.name.ljust(width)}  {found}{tag}  [{o.seconds:.0f}s]")
    survivors = [o.mutation.name for o in outcomes if not o.caught_by]
    print(f"\n{len(outcomes) - len(survivors)}/{len(outcomes)} mutants killed")
    if survivors:
        print("SURVIVORS: " + "; ".join(survivors))
    return 1 if survivors else 0
