"""The StratusLayer holds what the handlers import, and only what Lambda needs.

Two checks of the same promise:
- static: every module the handlers (functions/*/app.py) and the example DAGs can reach,
  function-level (lazy) imports and importlib strings included, is either the standard
  library, a layer module of orchestrator/ (never local/ or cli/), or provided by the
  closure of the layer's requirements (requirements.txt and what those require);
- dynamic: a fresh interpreter whose sys.path holds only the standard library, the layer's
  orchestrator/ and the distributions of that closure imports every handler and every
  reachable module.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
LAYER_DIR = ROOT / "iac" / "layers" / "library"
OUT_OF_LAYER = ("orchestrator.local", "orchestrator.cli")
HANDLERS = sorted(ROOT.glob("functions/*/app.py"))
DAGS = sorted((ROOT / "dags").glob("*.py"))
# Functions that only run on a developer's machine and import the local cloud lazily: their
# bodies are not reachable in Lambda (a DAG file's `dag.test()` runs under `__main__` only).
LOCAL_ONLY = {("orchestrator/authoring/dag.py", "test")}


def _requirements(text: str) -> list[Requirement]:
    return [Requirement(line) for line in (l.split("#", 1)[0].strip() for l in text.splitlines()) if line]


def _closure(reqs: list[Requirement]) -> set[str]:
    """Canonical names of the distributions these requirements install (markers for this Python)."""
    seen: set[str] = set()
    todo = list(reqs)
    while todo:
        req = todo.pop()
        name = _canon(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        for sub in md.requires(req.name) or []:
            todo.append(Requirement(sub))
    return seen


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports_of(path: Path, package: str | None) -> set[str]:
    """Every module name a file imports anywhere (function bodies included) or names in a string."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and (rel, f.name) in LOCAL_ONLY
               for n in ast.walk(f)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (package or "").split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"orchestrator(\.\w+)+", node.value):
            found.add(node.value)  # importlib.import_module("orchestrator....") and tables of such names
    return {f for f in found if f}


def reachable(roots: list[Path]) -> tuple[set[str], set[str]]:
    """(orchestrator modules reached, top-level names of other modules imported)."""
    ours: set[str] = set()
    others: set[str] = set()
    todo: list[tuple[Path, str | None]] = [(p, None) for p in roots]
    while todo:
        path, package = todo.pop()
        for name in _imports_of(path, package):
            top = name.split(".")[0]
            if top != "orchestrator":
                others.add(top)
                continue
            # `from orchestrator.x import y` names y: a module when a file exists for it, else an attribute
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                mod = ".".join(parts[:i])
                file = _module_file(mod)
                if file is None:
                    continue
                for j in range(1, i + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                    prefix = ".".join(parts[:j])
                    pfile = _module_file(prefix)
                    if pfile is not None and prefix not in ours:
                        ours.add(prefix)
                        todo.append((pfile, prefix if pfile.name == "__init__.py" else prefix.rpartition(".")[0]))
                break
    return ours, others


def _provided_by(closure: set[str]) -> dict[str, set[str]]:
    dists = md.packages_distributions()
    return {top: {_canon(d) for d in names} for top, names in dists.items()}


def missing_from_layer(requirements_text: str) -> list[str]:
    """Modules the handlers can import that the layer would not have (empty: the layer is complete)."""
    ours, others = reachable(HANDLERS + DAGS)
    problems = [f"{m} (not packaged in the layer)" for m in sorted(ours) if m.startswith(OUT_OF_LAYER)]
    closure = _closure(_requirements(requirements_text))
    provided = _provided_by(closure)
    for top in sorted(others):
        if top in sys.stdlib_module_names or top in ("__future__", "airflow"):
            continue  # airflow: served by orchestrator.authoring.airflow_compat (a meta path finder)
        dists = provided.get(top)
        if not dists:
            problems.append(f"{top} (installed by no distribution here)")
        elif not dists & closure:
            problems.append(f"{top} (from {', '.join(sorted(dists))}, not in the layer's requirements)")
    return problems


def test_requirements_txt_is_generated_from_pyprojects_runtime_dependencies():
    result = subprocess.run([sys.executable, str(LAYER_DIR / "requirements.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    reqs = {_canon(r.name) for r in _requirements((LAYER_DIR / "requirements.txt").read_text(encoding="utf-8"))}
    assert "jsonschema" in reqs
    assert not reqs & {"moto", "aws-sam-translator", "pytest", "werkzeug"}


def test_the_package_alone_pulls_neither_moto_nor_the_sam_translator():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {_canon(Requirement(r).name) for r in project["optional-dependencies"]["local"]} >= {"moto", "aws-sam-translator"}
    closure = _closure([Requirement(r) for r in project["dependencies"]])
    assert "jsonschema" in closure
    assert not closure & {"moto", "aws-sam-translator"}, sorted(closure & {"moto", "aws-sam-translator"})


def test_every_module_the_handlers_reach_is_in_the_layer():
    ours, _ = reachable(HANDLERS + DAGS)
    assert {"orchestrator.engine.worker", "orchestrator.plan.params", "orchestrator.triggers.api"} <= ours
    assert missing_from_layer((LAYER_DIR / "requirements.txt").read_text(encoding="utf-8")) == []


def test_the_check_catches_a_dependency_missing_from_the_requirements():
    """The layer's requirements before the fix: no jsonschema (orchestrator/plan/params.py imports it)."""
    text = (LAYER_DIR / "requirements.txt").read_text(encoding="utf-8")
    before = "\n".join(line for line in text.splitlines() if not line.startswith("jsonschema"))
    assert missing_from_layer(before) == ["jsonschema (from jsonschema, not in the layer's requirements)"]


def _layer_site(tmp: Path, closure: set[str]) -> Path:
    """A site folder with only the closure's distributions (symlinked from this environment)."""
    site = tmp / "python"
    site.mkdir()
    for dist in md.distributions():
        if _canon(dist.metadata["Name"]) not in closure:
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            src = Path(dist.locate_file(top))
            dst = site / top
            if src.exists() and not dst.exists():
                dst.symlink_to(src)
    return site


def _layer_orchestrator(tmp: Path) -> Path:
    """orchestrator/ as the layer's Makefile packages it (without local/ and cli/)."""
    root = tmp / "lib"
    pkg = root / "orchestrator"
    pkg.mkdir(parents=True)
    for child in (ROOT / "orchestrator").iterdir():
        if child.name in ("local", "cli", "__pycache__"):
            continue
        (pkg / child.name).symlink_to(child)
    return root


@pytest.mark.slow
def test_an_interpreter_with_only_the_layer_imports_every_handler_and_reachable_module(tmp_path):
    closure = _closure(_requirements((LAYER_DIR / "requirements.txt").read_text(encoding="utf-8")))
    site, lib = _layer_site(tmp_path, closure), _layer_orchestrator(tmp_path)
    ours, others = reachable(HANDLERS + DAGS)
    third = sorted(t for t in others if t not in sys.stdlib_module_names and t not in ("__future__", "airflow"))
    script = f"""
import importlib, importlib.util, os, sys
sys.path[:0] = [{str(lib)!r}, {str(site)!r}]
for name in {sorted(ours)!r} + {third!r}:
    importlib.import_module(name)
for path in {[str(h) for h in HANDLERS]!r}:
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("handler_" + os.path.basename(os.path.dirname(path)), path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    sys.path.pop(0)
import orchestrator
bad = [m for m in sys.modules if m.split(".")[0] in ("moto", "samtranslator", "werkzeug", "pytest")
       or m.startswith(("orchestrator.local", "orchestrator.cli"))]
assert not bad, bad
print("ok", len(sys.modules))
"""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "STRATUS_TABLE": "t",
        "STRATUS_ARTEFACT_BUCKET": "b",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    # -I: no user site, no PYTHON* variables; -S: no site-packages of this environment.
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")
