"""The import direction of docs/design.md: agent_iam → scenarios → agents → hotel → iam_core.

And within our packages, no import circle: every module can be read, and loaded, after the
modules it imports.
"""

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


def outside_the_kit(root: Path) -> list[str]:
    """Every import in ``root/hotel`` of ``iam_core`` other than the resource-server kit."""
    return [
        f"{where} imports {name}"
        for where, name in imports(root, "hotel")
        if name.split(".")[0] == "iam_core" and name != KIT and not name.startswith(KIT + ".")
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


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: tuple[str, ...] = OURS) -> dict[str, set[str]]:
    """Each module of ``packages`` under ``root`` and the modules of ``packages`` it imports.

    Imports under ``if TYPE_CHECKING:`` count: a circle that only the type checker sees is
    still two modules that cannot be understood one without the other.
    """
    paths = {
        module_name(root, path): path
        for package in packages
        if (root / package).is_dir()
        for path in sorted((root / package).rglob("*.py"))
    }
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from a.b import c`` imports the module a.b.c when there is one, else a.b.
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in paths
                    else node.module
                    for alias in node.names
                ]
            else:
                continue
            graph[name].update(t for t in targets if t in paths and t != name)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group: list[str] = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def test_no_import_cycle_in_our_packages() -> None:
    """No module imports, directly or through others, a module that imports it."""
    assert import_cycles(import_graph(ROOT)) == []


def test_the_cycle_check_finds_a_circle(tmp_path: Path) -> None:
    """The checker reports a circle, TYPE_CHECKING included, so the test above can fail."""
    package = tmp_path / "iam_core"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from iam_core.sub import b\n")
    (package / "sub" / "b.py").write_text("import os\nfrom iam_core.c import C\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from iam_core.a import A\n"
    )
    (package / "d.py").write_text("import iam_core.a\n")
    assert import_cycles(import_graph(tmp_path)) == [["iam_core.a", "iam_core.c", "iam_core.sub.b"]]


def test_hotel_imports_only_the_resource_server_kit() -> None:
    """A resource server in another company would have only the issuer's public surface."""
    assert outside_the_kit(ROOT) == []


def test_the_kit_check_finds_an_import_of_the_iams_internals(tmp_path: Path) -> None:
    """The checker reports internals and accepts the kit, so the test above can fail."""
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
        "hotel/world.py imports iam_core.store",
    ]
