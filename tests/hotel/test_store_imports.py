"""The hotel's storage stands where a resource server in another company would.

From ``iam_core`` the stores and the world facade may import only the resource-server kit:
the SQL store and the people the hotel knows are handed in by the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

HOTEL = Path(__file__).resolve().parents[2] / "hotel"
KIT = "iam_core.resource_server"


def iam_core_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [name for name in names if name.split(".")[0] == "iam_core"]


def test_the_stores_import_nothing_from_iam_core_but_the_kit() -> None:
    """Every hotel store module, and the world facade, imports at most the kit."""
    paths = [HOTEL / "world.py", *sorted((HOTEL / "stores").glob("*.py"))]
    assert len(paths) > 5
    found = {p.name: iam_core_imports(p) for p in paths}
    assert {name: [m for m in mods if m != KIT] for name, mods in found.items()} == {
        name: [] for name in found
    }
    assert any(KIT in mods for mods in found.values())
