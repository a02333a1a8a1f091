"""Layers point down: a module may import only from its own layer or the layers below it.

The order is DESIGN.md's "One of each": authoring needs nothing above it; plan needs
authoring; store, engine and triggers need plan; the composition root wires the engine and
the triggers; observe, local, cli and the Lambda handlers sit on top. Every import counts,
including those inside functions and under ``TYPE_CHECKING``. The Airflow-compatibility
shims (``airflow``, ``airflow.*``) are left out: they map user imports onto ``orchestrator``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A name maps a module or a package (and everything under it) to its layer.
LAYERS: list[tuple[str, ...]] = [
    # Foundation: errors, settings, logging/metrics, pure schedule math, secrets and masking.
    ("orchestrator.errors", "orchestrator.constants", "orchestrator.config", "orchestrator.telemetry",
     "orchestrator.timetable", "orchestrator.secrets"),
    ("orchestrator.authoring", "orchestrator"),  # the package itself is the public authoring API
    ("orchestrator.plan",),
    ("orchestrator.store",),
    ("orchestrator.engine",),
    ("orchestrator.triggers",),
    ("orchestrator.compose",),
    ("orchestrator.observe",),
    ("orchestrator.local",),
    ("orchestrator.cli",),
    ("functions",),
]


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching name, layer)
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[0]:
                    best = (len(name), index)
    return None if best is None else best[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every import in the file; ``from pkg import sub`` counts as ``pkg.sub``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (root / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    root / Path(*candidate.split(".")) / "__init__.py").exists()
                found.append((node.lineno, candidate if is_module else base))
    return found


def sources(root: Path = ROOT) -> list[Path]:
    files = sorted((root / "orchestrator").rglob("*.py")) + sorted((root / "functions").rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def upward_imports(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sources(root):
        mine = layer_of(module_name(path, root))
        if mine is None:
            problems.append(f"{path.relative_to(root)}: not in any layer of tests/unit/test_layers.py")
            continue
        for line, target in imported(path, root):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                problems.append(f"{path.relative_to(root)}:{line} imports {target} "
                                f"(layer {theirs} {LAYERS[theirs][0]!r} is above layer {mine} {LAYERS[mine][0]!r})")
    return problems


def test_layers_point_down() -> None:
    problems = upward_imports()
    assert not problems, "Upward imports (move the code down, or pass what it needs in):\n" + "\n".join(problems)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    # The checker itself must be able to fail: an import inside a function, and a relative one.
    # A copy of the tree's shape in tmp_path (never the source tree: other tests read it meanwhile).
    for package in ("orchestrator", "orchestrator/authoring", "orchestrator/engine", "orchestrator/cli", "functions"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "orchestrator" / "engine" / "engine.py").write_text("")
    (tmp_path / "orchestrator" / "cli" / "main.py").write_text("")
    sample = tmp_path / "orchestrator" / "authoring" / "probe.py"
    sample.write_text("def f():\n    from orchestrator.engine import engine\n    from ..cli import main\n")
    targets = [t for _, t in imported(sample, tmp_path)]
    assert targets == ["orchestrator.engine.engine", "orchestrator.cli.main"]
    problems = upward_imports(tmp_path)
    assert any("probe.py:2 imports orchestrator.engine.engine" in p for p in problems), problems
    assert any("probe.py:3 imports orchestrator.cli.main" in p for p in problems), problems


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sources():
        me = module_name(path)
        if not me.startswith("orchestrator.") or me.count(".") < 2 and path.name != "__init__.py":
            continue
        package = ".".join(me.split(".")[:2])
        for _, target in imported(path):
            parts = target.split(".")
            if len(parts) >= 2 and parts[0] == "orchestrator":
                other = ".".join(parts[:2])
                if other != package and (ROOT / "orchestrator" / parts[1] / "__init__.py").exists():
                    graph.setdefault(package, set()).add(other)
    return graph


def test_no_import_circles_between_packages() -> None:
    graph = _package_graph()
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(trail + [nxt]))
                elif nxt not in trail:
                    stack.append((nxt, trail + [nxt]))
    assert not cycles, "Import circles between packages:\n" + "\n".join(sorted(set(cycles)))


@pytest.mark.parametrize("package", ["triggers", "store", "plan"])
def test_no_module_circles_inside(package: str) -> None:
    # Module-level imports only: a circle there fails at import time depending on the order.
    names = {module_name(p): p for p in (ROOT / "orchestrator" / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.col_offset == 0:
                for alias in node.names:
                    for target in (f"{node.module}.{alias.name}", node.module):
                        if target in names and target != name:
                            graph.setdefault(name, set()).add(target)
                            break
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(trail + [nxt]))
                elif nxt not in trail:
                    stack.append((nxt, trail + [nxt]))
    assert not cycles, f"Import circles inside orchestrator.{package}:\n" + "\n".join(sorted(set(cycles)))
