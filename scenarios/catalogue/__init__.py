"""The attack catalogue: one small file per case of docs/attacks.md, found by name.

Every module here named ``case_*.py`` (or any other module) that defines ``SCENARIOS`` — a
list of :class:`~scenarios.model.Scenario` — is part of the catalogue. To add a scenario,
add a file; see the README's “Adding a scenario”.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from scenarios.model import Scenario


@cache
def catalogue() -> tuple[Scenario, ...]:
    found: list[Scenario] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found += getattr(loaded, "SCENARIOS", [])
    ids = [s.id for s in found]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"scenario ids used twice: {', '.join(sorted(duplicated))}")
    return tuple(found)


def by_id() -> dict[str, Scenario]:
    return {s.id: s for s in catalogue()}


def select(ids: list[str] | None) -> list[Scenario]:
    """Scenarios by id, or by prefix (``c01`` → every variant of case 1); all if none."""
    if not ids:
        return list(catalogue())
    chosen = [s for s in catalogue() if any(s.id == i or s.id.startswith(i) for i in ids)]
    unknown = [i for i in ids if not any(s.id == i or s.id.startswith(i) for s in catalogue())]
    if unknown:
        raise KeyError(f"no scenario matches {', '.join(unknown)}")
    return chosen
