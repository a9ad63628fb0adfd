"""Agent key files under simultaneous cold starts (CI found `serve` processes racing on one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agents.keystore import AgentKeyStore


def test_a_process_that_loses_the_race_adopts_the_published_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = AgentKeyStore(tmp_path), AgentKeyStore(tmp_path)
    real_load = second._load
    looked: list[str] = []

    def look_before_the_first_publishes(agent_id: str) -> ec.EllipticCurvePrivateKey | None:
        if not looked:  # the second process looked while the folder was still empty
            looked.append(agent_id)
            published.append(first.private_key(agent_id))  # ... then the first published
            return None
        return real_load(agent_id)

    published: list[ec.EllipticCurvePrivateKey] = []
    monkeypatch.setattr(second, "_load", look_before_the_first_publishes)
    adopted = second.private_key("booking-assistant")
    assert adopted.private_numbers() == published[0].private_numbers()
    assert [p.name for p in tmp_path.iterdir()] == ["booking-assistant.pem"]  # no temp left
