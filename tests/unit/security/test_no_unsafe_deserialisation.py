"""No pickle anywhere: the library and the handlers never deserialise code-bearing formats."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted([*ROOT.joinpath("orchestrator").rglob("*.py"), *ROOT.joinpath("functions").rglob("*.py")])
BANNED_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}
UNSAFE_YAML_CALLS = {"unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(ROOT)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [f"{rel}:{node.lineno} imports {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            out.append(f"{rel}:{node.lineno} imports from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "load", "load_all", *UNSAFE_YAML_CALLS):
            owner = node.func.value
            if not (isinstance(owner, ast.Name) and owner.id == "yaml"):
                continue
            if node.func.attr in UNSAFE_YAML_CALLS:
                out.append(f"{rel}:{node.lineno} calls yaml.{node.func.attr}")
                continue
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), node.args[1] if len(node.args) > 1 else None)
            name = loader.attr if isinstance(loader, ast.Attribute) else getattr(loader, "id", None)
            if name not in SAFE_LOADERS:
                out.append(f"{rel}:{node.lineno} calls yaml.{node.func.attr} without a safe Loader")
    return out


def test_sources_were_found():
    assert len(SOURCES) > 50 and any(p.name == "engine.py" for p in SOURCES)


# The one exception: the local cloud's deploy cache (never on AWS, never fed by a request) keeps
# moto's state, which has no other serialised form, and the code of dataclass methods
# (local.speedups.compiled: marshal is the form of code objects), and unpickles only files it
# authenticated with an HMAC under a key in a folder only this user may write
# (tests/functional/local/test_deploy_cache.py refuses a file it did not write).
ALLOWED = {"orchestrator/local/deploycache.py": ["orchestrator/local/deploycache.py:{line} imports marshal",
                                                 "orchestrator/local/deploycache.py:{line} imports pickle"]}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_marshal_or_unsafe_yaml(path):
    rel = str(path.relative_to(ROOT))
    problems = _problems(path)
    if rel in ALLOWED:
        assert [re.sub(r":\d+ ", ":{line} ", p) for p in problems] == ALLOWED[rel]
        assert "hmac.compare_digest" in path.read_text()
        return
    assert problems == []


def test_the_checker_catches_what_it_looks_for(tmp_path, monkeypatch):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nfrom marshal import loads\nimport yaml\nyaml.load(s)\nyaml.load(s, Loader=yaml.Loader)\n"
                   "yaml.unsafe_load(s)\nyaml.load(s, Loader=yaml.SafeLoader)\nyaml.safe_load(s)\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _problems(bad) == [
        "bad.py:1 imports pickle", "bad.py:2 imports from marshal", "bad.py:4 calls yaml.load without a safe Loader",
        "bad.py:5 calls yaml.load without a safe Loader", "bad.py:6 calls yaml.unsafe_load",
    ]
