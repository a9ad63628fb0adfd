"""The notebooks in ``notebooks/`` are committed without outputs; ``.ci/run`` executes them.

Outputs stay out of git: they are large, change on every run and may hold run-specific ids.
Clear them before committing (Jupyter: Edit → Clear Outputs of All Cells).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_are_there() -> None:
    names = [path.name for path in NOTEBOOKS]
    for stem in ("01_token_flows", "02_attack_matrix", "03_audit_forensics", "04_policy_lab"):
        assert f"{stem}.ipynb" in names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_without_outputs(path: Path) -> None:
    book = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        n
        for n, cell in enumerate(book["cells"])
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)
    ]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"
