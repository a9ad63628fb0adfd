"""``agent-iam run --record DIR`` / ``--replay DIR``: a catalogue run's model exchanges, kept.

Each run (a scenario as attack or benign twin, under one profile and threat model) gets
its own recording (``agents/llm/recording.py``: one JSON Lines file, versioned) at
``DIR/<profile>/<model>/<run id>.jsonl``; ``DIR/recording.json`` — the index — says what was
recorded::

    {"format": "agent-iam-run-recording", "version": 1, "seed": 0,
     "scenarios": ["c01a-…", …], "profiles": ["agent-iam"], "models": ["embedded-obedient"],
     "runs": [{"id": "c01a-…~benign", "profile": "agent-iam", "model": "embedded-obedient",
               "file": "agent-iam/embedded-obedient/c01a-…~benign.jsonl", "requests": 3}, …]}

A replay re-runs each run in a fresh deployment of the recorded seed, its model answering
from the file (no model, no network: ``agents/llm/replay.py``); the requests the agents
send are checked against the recorded ones after normalising time-dependent fields, and a
run that asks otherwise is an **error** of that run (exit 2) whose message names the
request, the field and both values. Without a selection of its own, ``--replay DIR``
replays what the index lists; a run of the selection with no recording, a corrupt index or
a corrupt recording is refused before anything runs (exit 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from agents.llm.client import ChatModel, ModelSettings, recorder
from agents.llm.recording import RecordingError, read_recording
from agents.llm.replay import Player, Recorder

if TYPE_CHECKING:  # the runner's Outcome; runner imports this module, not the other way
    from _typeshed import DataclassInstance

    OutcomeT = TypeVar("OutcomeT", bound=DataclassInstance)
else:
    OutcomeT = TypeVar("OutcomeT")

INDEX = "recording.json"
FORMAT = "agent-iam-run-recording"
VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def file_name(profile: str, model: str, run_id: str) -> str:
    """Where a run's recording goes, below DIR (names made safe for any file system)."""
    return "/".join(_UNSAFE.sub("_", part) for part in (profile, model, run_id)) + ".jsonl"


@dataclass(frozen=True)
class Tapes:
    """Recording or replaying a catalogue run: picklable, handed to the worker processes."""

    mode: Literal["record", "replay"]
    folder: Path

    def tape(self, settings: ModelSettings) -> Recorder | Player:
        return recorder(settings) if self.mode == "record" else Player()

    def begin(self, model: ChatModel, *, profile: str, threat: str, run_id: str, seed: int) -> None:
        """Point the model's tape at this run's file (recording it, or replaying it)."""
        path = self.folder / file_name(profile, threat, run_id)
        run = {"command": "run", "id": run_id, "profile": profile, "threat": threat, "seed": seed}
        tape = model.tape
        if isinstance(tape, Recorder):
            tape.start(path, run)
            return
        assert isinstance(tape, Player), "a replayed run needs a player under its model"
        recording = tape.load(path)
        if {k: recording.run.get(k) for k in run} != run:
            raise RecordingError(f"recording {path} is of another run: {recording.run}")
        model.stream = recording.stream  # as recorded, whatever this shell's setting

    def settle(self, model: ChatModel, outcome: OutcomeT) -> OutcomeT:
        """After a run: a replay that asked anything but the recording is an error."""
        tape = model.tape
        if isinstance(tape, Recorder):
            tape.stop()
            return outcome
        assert isinstance(tape, Player)
        diverged = tape.finish()
        if diverged is None:
            return outcome
        where = tape.recording.path if tape.recording else self.folder
        return replace(
            outcome,
            error=f"replay of {where} diverged: {diverged}",
            passed=False,
            attack_succeeded=None,
            utility=None,
            utility_under_attack=None,
            attempted=None,
            stopped_by=None,
            harm=[],
        )


@dataclass(frozen=True)
class Index:
    """What a recording folder holds (``recording.json``)."""

    seed: int
    scenarios: list[str]
    profiles: list[str]
    models: list[str]
    runs: list[dict[str, Any]]

    def file(self, profile: str, model: str, run_id: str) -> str | None:
        for run in self.runs:
            if (run.get("profile"), run.get("model"), run.get("id")) == (profile, model, run_id):
                return str(run.get("file"))
        return None


def write_index(
    folder: Path,
    *,
    seed: int,
    scenarios: Sequence[str],
    profiles: Sequence[str],
    models: Sequence[str],
    runs: Sequence[tuple[str, str, str]],
) -> Path:
    """The index of a recorded run; ``runs`` are (profile, threat model, run id)."""
    entries = []
    for prof, model, run_id in runs:
        name = file_name(prof, model, run_id)
        requests = len(read_recording(folder / name).exchanges)
        entries.append(
            {"id": run_id, "profile": prof, "model": model, "file": name, "requests": requests}
        )
    body = {
        "format": FORMAT,
        "version": VERSION,
        "seed": seed,
        "scenarios": list(scenarios),
        "profiles": list(profiles),
        "models": list(models),
        "runs": entries,
    }
    path = folder / INDEX
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_index(folder: Path) -> Index:
    """The index of a recording folder, or :class:`RecordingError` saying what is wrong."""
    path = folder / INDEX
    if not path.is_file():
        raise RecordingError(f"{folder} holds no {INDEX}: not a folder made by run --record")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path} is not JSON ({exc})") from None
    except OSError as exc:
        raise RecordingError(f"{path} cannot be read: {exc.strerror}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise RecordingError(f"{path} is not an index of {FORMAT!r}")
    if body.get("version") != VERSION:
        raise RecordingError(
            f"{path}: format version {body.get('version')!r}; this agent-iam reads {VERSION}"
        )
    seed = body.get("seed")
    lists = {k: body.get(k) for k in ("scenarios", "profiles", "models", "runs")}
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecordingError(f"{path}: seed is not a number")
    for key, value in lists.items():
        if not isinstance(value, list) or not value:
            raise RecordingError(f"{path}: {key} is not a non-empty list")
    for key in ("scenarios", "profiles", "models"):
        if not all(isinstance(v, str) for v in lists[key] or ()):
            raise RecordingError(f"{path}: {key} holds something other than names")
    for n, run in enumerate(lists["runs"] or (), 1):
        fields = ("id", "profile", "model", "file")
        if not isinstance(run, dict) or not all(isinstance(run.get(k), str) for k in fields):
            raise RecordingError(f"{path}: run {n} lacks one of {', '.join(fields)}")
    return Index(seed, *(list(lists[k] or ()) for k in ("scenarios", "profiles", "models", "runs")))


def check_replayable(folder: Path, index: Index, jobs: Sequence[tuple[str, str, str]]) -> None:
    """Every (profile, model, run id) to replay has a readable recording, before any runs."""
    for prof, model, run_id in jobs:
        name = index.file(prof, model, run_id)
        if name is None:
            raise RecordingError(
                f"{folder} has no recording of {run_id} ({prof}, {model}); it holds "
                f"{len(index.runs)} runs (see {folder / INDEX})"
            )
        if name != file_name(prof, model, run_id):
            raise RecordingError(f"{folder / INDEX}: run {run_id} points at another file, {name}")
        read_recording(folder / name)
