"""The whole catalogue, recorded and replayed: the same runs, offline, with no model.

Every scenario, as attack and benign twin, under ``agent-iam`` and ``shared-key`` with the
obedient model, is recorded (one file per run) and replayed in fresh deployments whose
model is only the recordings — the embedded model made unavailable. Every replayed run
must end as the recorded one did (verdicts, expectations, what happened), its audit trail
equal but for time fields, and none may diverge. One test, so that parallel test workers
never record the catalogue twice. (The compromised agent is replayed in
tests/test_cli_replay.py; the whole ladder by ``agent-iam run --ladder --record DIR`` then
``--replay DIR``: see the README.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.llm import client as llm_client
from agents.llm.normalise import first_difference
from agents.tools import TOKEN_SHAPE
from hotel.baseline import DEMO_API_KEY
from iam_core.seed import DEMO_PASSWORDS, DEMO_SECRETS
from scenarios.catalogue import catalogue
from scenarios.recordings import Tapes, file_name
from scenarios.runner import Outcome, run_catalogue

PROFILES = ["agent-iam", "shared-key"]
MODELS = ["embedded-obedient"]
# What may differ between two runs of the same thing: durations, and the audit chain's
# hashes (they cover each entry's time); the entries themselves are compared normalised.
UNTIMED = ("seconds", "audit")


def comparable(o: Outcome) -> dict[str, Any]:
    return {k: v for k, v in o.to_dict().items() if k not in UNTIMED}


def audit(o: Outcome) -> list[dict[str, Any]]:
    """The run's audit trail without its chain hashes. An approval's ``object_id`` is its
    ``auth_req_id`` and its ``approver_session`` a session handle, both random by design
    (CIBA §7.3; the person's sign-in): compared as such."""
    out = []
    for e in o.audit:
        entry = {k: v for k, v in e.items() if k not in ("prev_hash", "hash")}
        if str(entry["event"]).startswith("approval."):
            entry["object_id"] = "<random>"
            details = dict(entry.get("details") or {})
            if "approver_session" in details:
                details["approver_session"] = "<random>"
            entry["details"] = details
        out.append(entry)
    return out


def no_credentials_in(folder: Path) -> None:
    """The recordings are the model's context: no key, secret, password or token."""
    secrets = [DEMO_API_KEY, *DEMO_SECRETS.values(), *DEMO_PASSWORDS.values()]
    for path in sorted(folder.rglob("*.jsonl")):
        text = path.read_text()
        assert not [s[:8] for s in secrets if s in text], path
        assert not TOKEN_SHAPE.search(text), path


def test_the_whole_catalogue_replays_offline_as_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios = catalogue()
    recorded = run_catalogue(
        scenarios, workers=1, profiles=PROFILES, models=MODELS, tapes=Tapes("record", tmp_path)
    )
    assert len(recorded.outcomes) == 2 * len(scenarios) * len(PROFILES) * len(MODELS)
    assert not [o.id for o in recorded.outcomes if o.error]
    for o in recorded.outcomes:
        assert (tmp_path / file_name(o.profile, o.model, o.id)).is_file()
    no_credentials_in(tmp_path)

    def unavailable() -> Any:
        raise AssertionError("a replay asked the embedded model")

    monkeypatch.setattr(llm_client, "create_app", unavailable)
    replayed = run_catalogue(
        scenarios, workers=1, profiles=PROFILES, models=MODELS, tapes=Tapes("replay", tmp_path)
    )
    errors = [(o.id, o.profile, o.model, o.error) for o in replayed.outcomes if o.error]
    assert errors == []
    assert len(replayed.outcomes) == len(recorded.outcomes)
    for before, after in zip(recorded.outcomes, replayed.outcomes, strict=True):
        assert comparable(after) == comparable(before), (before.id, before.profile)
        assert first_difference(audit(before), audit(after)) is None, (before.id, before.profile)
