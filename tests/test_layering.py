"""The import direction of docs/design.md: agent_iam → scenarios → agents → hotel → iam_core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("iam_core", "hotel", "agents", "scenarios", "agent_iam")
FORBIDDEN = {
    "iam_core": {"hotel", "agents", "scenarios", "agent_iam"},
    "hotel": {"agents", "scenarios", "agent_iam"},
    # The agent runtime reaches the IAM and the services over HTTP, never their internals.
    "agents": {"scenarios", "hotel", "iam_core", "agent_iam"},
    # The harness is below the command line: it builds its stacks with scenarios.deployment.
    "scenarios": {"agent_iam"},
}


def violations(root: Path, package: str) -> list[str]:
    """Every import in ``root/package`` of a package that layer may not import."""
    found: list[str] = []
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN[package]:
                    found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_it_may_not(package: str) -> None:
    """A lower layer never imports a higher one, and agents never import server code."""
    assert violations(ROOT, package) == []


def test_the_layering_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The checker reports an upward import, so the test above can fail."""
    (tmp_path / "iam_core").mkdir()
    (tmp_path / "iam_core" / "bad.py").write_text("import os\nfrom agent_iam.cli import main\n")
    assert violations(tmp_path, "iam_core") == ["iam_core/bad.py imports agent_iam.cli"]
