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


# A resource server has only the issuer's public surface: the resource-server kit.
KIT = "iam_core.resource_server"
# Temporary, named exceptions: the split of the hotel's world into per-aggregate stores moves
# these onto the kit's Clock and SQLStore; remove each name as it does.
KIT_EXCEPTIONS = frozenset({"hotel/world.py", "hotel/world_records.py", "hotel/world_seed.py"})


def imports(root: Path, package: str) -> list[tuple[str, str]]:
    """Every absolute import in ``root/package``: (file relative to root, module)."""
    found: list[tuple[str, str]] = []
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            found.extend((path.relative_to(root).as_posix(), name) for name in names)
    return found


def violations(root: Path, package: str) -> list[str]:
    """Every import in ``root/package`` of a package that layer may not import."""
    return [
        f"{where} imports {name}"
        for where, name in imports(root, package)
        if name.split(".")[0] in FORBIDDEN[package]
    ]


def outside_the_kit(root: Path, exceptions: frozenset[str] = KIT_EXCEPTIONS) -> list[str]:
    """Every import in ``root/hotel`` of ``iam_core`` other than the resource-server kit."""
    return [
        f"{where} imports {name}"
        for where, name in imports(root, "hotel")
        if name.split(".")[0] == "iam_core"
        and name != KIT
        and not name.startswith(KIT + ".")
        and where not in exceptions
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_it_may_not(package: str) -> None:
    """A lower layer never imports a higher one, and agents never import server code."""
    assert violations(ROOT, package) == []


def test_the_layering_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The checker reports an upward import, so the test above can fail."""
    (tmp_path / "iam_core").mkdir()
    (tmp_path / "iam_core" / "bad.py").write_text("import os\nfrom agent_iam.cli import main\n")
    assert violations(tmp_path, "iam_core") == ["iam_core/bad.py imports agent_iam.cli"]


def test_hotel_imports_only_the_resource_server_kit() -> None:
    """A resource server in another company would have only the issuer's public surface."""
    assert outside_the_kit(ROOT) == []


def test_the_kit_check_finds_an_import_of_the_iams_internals(tmp_path: Path) -> None:
    """The checker reports internals, accepts the kit, and honours only named exceptions."""
    (tmp_path / "hotel").mkdir()
    (tmp_path / "hotel" / "bad.py").write_text(
        "from iam_core.resource_server import Token\n"
        "import iam_core.resource_server.policy\n"
        "from iam_core.policy import Policy\n"
        "import iam_core.seed\n"
    )
    (tmp_path / "hotel" / "world.py").write_text("from iam_core.store import Store\n")
    assert outside_the_kit(tmp_path) == [
        "hotel/bad.py imports iam_core.policy",
        "hotel/bad.py imports iam_core.seed",
    ]
    assert outside_the_kit(tmp_path, frozenset()) == [
        "hotel/bad.py imports iam_core.policy",
        "hotel/bad.py imports iam_core.seed",
        "hotel/world.py imports iam_core.store",
    ]
