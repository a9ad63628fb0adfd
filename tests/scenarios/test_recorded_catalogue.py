"""The whole catalogue, recorded and replayed: the same runs, offline, with no model.

Every scenario, as attack and benign twin, under ``agent-iam`` and ``shared-key``, with
the obedient model and the compromised agent, is recorded (one file per run) and replayed
in fresh deployments whose model is only the recordings — the embedded model made
unavailable. Every replayed run must end as the recorded one did (verdicts, expectations,
what happened), its audit trail equal but for time fields, and none may diverge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.llm import client as llm_client
from agents.llm.normalise import first_difference
from scenarios.catalogue import catalogue
from scenarios.recordings import Tapes, file_name
from scenarios.runner import CatalogueResult, Outcome, run_catalogue

PROFILES = ["agent-iam", "shared-key"]
MODELS = ["embedded-obedient", "compromised"]
# What may differ between two runs of the same thing: durations, and the audit chain's
# hashes (they cover each entry's time); the entries themselves are compared normalised.
UNTIMED = ("seconds", "audit")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalogue-recording")


@pytest.fixture(scope="module")
def recorded(folder: Path) -> CatalogueResult:
    return run_catalogue(
        catalogue(), workers=1, profiles=PROFILES, models=MODELS, tapes=Tapes("record", folder)
    )


def replay(folder: Path, monkeypatch: pytest.MonkeyPatch) -> CatalogueResult:
    def unavailable() -> Any:
        raise AssertionError("a replay asked the embedded model")

    monkeypatch.setattr(llm_client, "create_app", unavailable)
    return run_catalogue(
        catalogue(), workers=1, profiles=PROFILES, models=MODELS, tapes=Tapes("replay", folder)
    )


def comparable(o: Outcome) -> dict[str, Any]:
    return {k: v for k, v in o.to_dict().items() if k not in UNTIMED}


def audit(o: Outcome) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in ("prev_hash", "hash")} for e in o.audit]


def test_every_run_of_the_catalogue_has_its_recording(
    recorded: CatalogueResult, folder: Path
) -> None:
    assert len(recorded.outcomes) == 2 * len(catalogue()) * len(PROFILES) * len(MODELS)
    assert not [o.id for o in recorded.outcomes if o.error]
    for o in recorded.outcomes:
        assert (folder / file_name(o.profile, o.model, o.id)).is_file()


def test_the_whole_catalogue_replays_offline_as_recorded(
    recorded: CatalogueResult, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replayed = replay(folder, monkeypatch)
    errors = [(o.id, o.profile, o.model, o.error) for o in replayed.outcomes if o.error]
    assert errors == []
    assert len(replayed.outcomes) == len(recorded.outcomes)
    for before, after in zip(recorded.outcomes, replayed.outcomes, strict=True):
        assert comparable(after) == comparable(before), (before.id, before.profile)
        assert first_difference(audit(before), audit(after)) is None, (before.id, before.profile)
