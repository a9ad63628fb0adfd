"""``agent-iam run --record DIR`` and ``--replay DIR`` at the command line.

``--record DIR`` writes one model recording per run and the folder's index
(``scenarios/recordings.py``). ``--replay DIR`` replays them offline: what the command line
does not choose — scenarios, profiles, threat models, seed — comes from the index, so
``agent-iam run --replay DIR`` alone repeats the recorded run. A seed other than the
recorded one is refused (another world, not a replay); so is a folder without a usable
index, or a run of the selection without a recording (exit 2, before anything runs).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from agent_iam.errors import UsageError
from scenarios.injections import find
from scenarios.model import Scenario
from scenarios.recordings import Index, Tapes, check_replayable, read_index, write_index
from scenarios.runner import KINDS, CatalogueResult, run_id


def tapes_of(args: argparse.Namespace) -> tuple[Tapes | None, Index | None]:
    """The tapes the command line asks for and, replaying, the folder's index."""
    record, replay = getattr(args, "record", None), getattr(args, "replay", None)
    if record is not None and replay is not None:
        raise UsageError("run: --record and --replay exclude each other")
    if record is not None:
        return Tapes("record", record), None
    if replay is not None:
        return Tapes("replay", replay), read_index(replay)
    return None, None


def selects(args: argparse.Namespace) -> bool:
    """Whether the command line chose scenarios itself (else a replay takes the index's)."""
    return bool(args.ids or args.keyword or args.threat or getattr(args, "injections", None))


def apply_index(args: argparse.Namespace, index: Index) -> list[Scenario] | None:
    """Fill in from the index what the command line left open; the scenarios to replay
    when it chose none (None: choose them from the command line)."""
    if args.seed is None:
        args.seed = index.seed
    elif args.seed != index.seed:
        raise UsageError(
            f"run --replay: the recording was made with --seed {index.seed}; --seed "
            f"{args.seed} is another world, not a replay"
        )
    if not (args.profile or args.ladder or args.baseline):
        args.profile = list(index.profiles)
    if not args.model:
        args.model = list(index.models)
    if selects(args):
        return None
    try:
        return [find(sid) for sid in index.scenarios]
    except KeyError as exc:
        raise UsageError(f"the recording names a scenario this catalogue lacks: {exc}") from None


def jobs(
    chosen: Sequence[Scenario], profiles: Sequence[str], models: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(profile, threat model, run id) of every run, as the runner will make them."""
    return [
        (p, m, run_id(s, kind)) for p in profiles for m in models for s in chosen for kind in KINDS
    ]


def before(
    tapes: Tapes | None,
    chosen: Sequence[Scenario],
    profiles: Sequence[str],
    models: Sequence[str],
) -> None:
    """Replaying: every run has a readable recording, or nothing runs."""
    if tapes is not None and tapes.mode == "replay":
        check_replayable(tapes.folder, read_index(tapes.folder), jobs(chosen, profiles, models))


def after(tapes: Tapes | None, result: CatalogueResult, chosen: Sequence[Scenario]) -> str | None:
    """Recording: write the folder's index; what to tell the user."""
    if tapes is None:
        return None
    if tapes.mode == "replay":
        return f"replayed {len(result.outcomes)} runs from {tapes.folder} (no model asked)"
    done = [(o.profile, o.model, o.id) for o in result.outcomes]
    path = write_index(
        tapes.folder,
        seed=result.seed,
        scenarios=[s.id for s in chosen],
        profiles=result.profiles,
        models=result.models,
        runs=done,
    )
    return f"recorded the model exchanges of {len(done)} runs in {tapes.folder} (index {path})"
