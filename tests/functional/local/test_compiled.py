"""``local.speedups.compiled``: a kept pattern or code object is what Python compiles, warnings and errors included."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import pickle
import re
import subprocess
import sys
import typing
import warnings
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local import deploycache
from orchestrator.local.speedups import compiled

REPO = Path(__file__).resolve().parents[3]

PATTERNS: list[tuple[Any, int]] = [
    (r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)", 0),
    (r"^arn:(?P<partition>[^:]+):lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[\w-]+)(?::(?P<q>\$LATEST|\d+))?$", 0),
    (r"(?<=abc)def|(?<!x)y{2,5}?", 0),
    (r"caf\u00e9\s+\w+", re.IGNORECASE),
    (r"""(?x) a  # a comment
         b+ """, 0),
    (r"(a)(?P<b>b)?(?:c|d)*\1(?P=b)", re.MULTILINE | re.DOTALL),
    (rb"[^\x00-\x7f]+\r\n", 0),
    (rb"(?P<k>[a-z]+)=(?P<v>[^&]*)", re.IGNORECASE),
    (r"[\u0400-\u04ff]+|\d", re.ASCII),
    ("", 0),
]


def _python(pattern: Any, flags: int) -> re.Pattern[Any]:
    """Python's own compile, whether or not the speed-up is installed in this process."""
    original = compiled._state["original"] or re._compiler.compile  # type: ignore[attr-defined]
    return original(pattern, flags)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_kept_code_makes_the_pattern_python_makes(pattern: Any, flags: int) -> None:
    kept = deploycache.Marshalled({"entry": compiled._code_of(pattern, flags)})
    entry = pickle.loads(pickle.dumps(kept))["entry"]  # as it comes back from disk (one marshal blob)
    made = compiled._make(pattern, entry)
    python = _python(pattern, flags)
    assert made == python  # CPython: same pattern string, flags and code
    assert (made.groups, made.groupindex, made.flags) == (python.groups, python.groupindex, python.flags)
    sample = "2024-05-06 CAFÉ  x abcdef yy aabbca k=v\r\n" if isinstance(pattern, str) else b"k=v&x=\xff\r\n"
    assert [m.span() for m in made.finditer(sample)] == [m.span() for m in python.finditer(sample)]


def test_a_changed_code_is_a_different_pattern() -> None:
    """The equality above is a real check: one opcode changed and the patterns differ."""
    flags, code, groups, groupindex, indexgroup = compiled._code_of(r"ab+c", 0)
    changed = [ord("d") if op == ord("c") else op for op in code]  # the last literal
    assert changed != code
    assert compiled._make(r"ab+c", (flags, changed, groups, groupindex, indexgroup)) != _python(r"ab+c", 0)


_PROCESS = """
import json, re, sys, warnings
from orchestrator.local.speedups import compiled
installed = compiled.install()
import orchestrator.local.cloud  # moto, botocore, urllib3, werkzeug: a few hundred patterns
warned = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    re.compile("[[a]x" + sys.argv[1])
    warned = [str(w.message) for w in caught]
try:
    re.compile("(unclosed" + sys.argv[1])
    error = None
except re.error as exc:
    error = str(exc)
s = compiled._state
print(json.dumps({"installed": installed, "kept": len(s["regex"]), "fresh": len(s["fresh_regex"]),
                  "used": len(s["used_regex"]), "kept_code": len(s["code"]), "fresh_code": len(s["fresh_code"]),
                  "used_code": len(s["used_code"]), "warned": warned, "error": error}))
"""


def _run(cache: Path, *args: str, **env: str) -> dict[str, Any]:
    import json

    done = subprocess.run([sys.executable, "-c", _PROCESS, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "STRATUS_CACHE_DIR": str(cache), **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_second_process_compiles_nothing_it_kept_and_every_kept_pattern_is_pythons(tmp_path: Path) -> None:
    first = _run(tmp_path, "1")
    assert first["installed"] and first["kept"] == 0 and first["fresh"] > 200 and first["fresh_code"] > 100
    second = _run(tmp_path, "1")
    assert second["kept"] >= first["fresh"] and second["used"] > 200 and second["used_code"] > 100
    assert second["fresh"] == 0 and second["fresh_code"] == 0  # the same imports: nothing compiled afresh
    # The pattern re warns about is never kept: the warning comes every time; so does the error.
    for result in (first, second):
        assert result["warned"] and "Possible nested set" in result["warned"][0]
        assert result["error"] and "missing )" in result["error"]
    kept = _kept_on_disk(tmp_path)
    assert not any("[[a]x" in str(p) or "(unclosed" in str(p) for _, p, _ in kept["regex"])
    for (_, pattern, flags), entry in kept["regex"].items():
        assert compiled._make(pattern, entry) == _python(pattern, flags), pattern
    code = kept["code"]
    assert code
    assert {mode for mode, _ in code} == {"exec", "eval"}  # dataclass methods; forward references, namedtuples
    for (mode, text), kept_code in code.items():
        assert kept_code == compile(text, "<string>", mode, dont_inherit=True), text


def _kept_on_disk(cache: Path) -> dict[Any, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRATUS_CACHE_DIR", str(cache))
        kept = deploycache.read_private(compiled._file_name())
    assert isinstance(kept, dict) and kept
    return kept


def test_off_with_the_deploy_cache(tmp_path: Path) -> None:
    result = _run(tmp_path, "1", STRATUS_DEPLOY_CACHE="0")
    assert not result["installed"]
    assert not list(tmp_path.rglob("compiled-*"))


def test_at_most_max_kept_and_the_used_ones_stay(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRATUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "MAX_KEPT", 3)
    entry = compiled._code_of("a", 0)
    kept = {(False, f"old{i}", 0): entry for i in range(4)}
    monkeypatch.setitem(compiled._state, "regex", kept)
    monkeypatch.setitem(compiled._state, "used_regex", {(False, "old0", 0)})
    monkeypatch.setitem(compiled._state, "fresh_regex", {(False, "new", 0): entry})
    monkeypatch.setitem(compiled._state, "code", {})
    monkeypatch.setitem(compiled._state, "fresh_code", {})
    compiled.save()
    assert list(_kept_on_disk(tmp_path)["regex"]) == [(False, "old3", 0), (False, "old0", 0), (False, "new", 0)]


def test_warnings_point_at_the_caller_as_before() -> None:
    """A pattern compiled afresh goes through the same frames as Python's compile: same warning location."""
    assert compiled.install()  # already, by the local cloud's import (conftest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        re.compile("[[b]y-unique-1")
    assert caught and caught[0].filename == __file__


# -- dataclass methods
def _shapes(frozen: bool) -> list[type]:
    @dataclasses.dataclass(frozen=frozen, order=True)
    class Point:
        x: int
        y: int = 2
        tags: list[str] = dataclasses.field(default_factory=list, compare=False)

    @dataclasses.dataclass(slots=True, kw_only=True, eq=False)
    class Options:
        name: str
        scale: dataclasses.InitVar[float] = 1.0
        size: float = 0.0

        def __post_init__(self, scale: float) -> None:
            self.size = len(self.name) * scale

    @dataclasses.dataclass(unsafe_hash=True, repr=False)
    class Key:
        a: str
        b: tuple[int, ...] = ()

    return [Point, Options, Key]


def _methods(cls: type) -> dict[str, Any]:
    return {n: f.__code__ for n, f in vars(cls).items() if hasattr(f, "__code__") and f.__code__.co_filename == "<string>"}


@pytest.mark.parametrize("frozen", [False, True])
def test_dataclass_methods_are_the_ones_exec_compiles(frozen: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert compiled.install()
    for name in ("code", "fresh_code"):
        monkeypatch.setitem(compiled._state, name, {})
    kept = _shapes(frozen)  # through exec_kept: compiled afresh and kept
    fresh = dict(compiled._state["fresh_code"])
    compiled._state["code"] = fresh
    compiled._state["fresh_code"] = {}
    again = _shapes(frozen)  # the same texts: the kept code objects
    with _plain_python():
        plain = _shapes(frozen)
    assert len(fresh) >= 10 and not compiled._state["fresh_code"] and set(fresh) <= compiled._state["used_code"]
    for a, b, c in zip(kept, again, plain, strict=True):
        assert _methods(a) and _methods(a) == _methods(b) == _methods(c)
    point, options, key = again
    assert point(1) < point(2) and point(1, tags=["a"]) == point(1) and repr(point(3)) == repr(plain[0](3)).replace(
        plain[0].__qualname__, point.__qualname__)
    assert options(name="abc", scale=2.0).size == 6.0 and not hasattr(options(name="x"), "__dict__")
    assert hash(key("a", (1,))) == hash(key("a", (1,)))
    if frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            point(1).x = 5  # type: ignore[misc]


def test_a_text_that_does_not_compile_raises_and_is_not_kept() -> None:
    assert compiled.install()
    with pytest.raises(SyntaxError):
        compiled.exec_kept("def f(:\n pass", {}, {})
    with pytest.raises(SyntaxError, match="Forward reference must be an expression"):
        typing.ForwardRef("not valid(")
    assert not {("exec", "def f(:\n pass"), ("eval", "not valid(")} & set(compiled._state["fresh_code"])


@contextlib.contextmanager
def _plain_python() -> Any:
    """Python's own exec/compile/eval in the modules the speed-up serves, for a comparison."""
    saved = [(module, name, vars(module).pop(name)) for module, name, _ in compiled._TEXT_SITES]
    try:
        yield
    finally:
        for module, name, replacement in saved:
            setattr(module, name, replacement)


def test_forward_references_and_namedtuples_get_the_code_python_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compiled.install()
    for name in ("code", "fresh_code"):
        monkeypatch.setitem(compiled._state, name, {})
    texts = ["dict[str, 'Point']", "*tuple[int, str]", "Callable[[int], Awaitable[None]]"]

    def made() -> tuple[list[Any], Any]:
        refs = [typing.ForwardRef(t).__forward_code__ for t in texts]
        point = collections.namedtuple("Point", ["x", "y"], defaults=[0])
        return refs, point

    first_refs, first_point = made()
    assert {("eval", t) for t in ["dict[str, 'Point']", "(*tuple[int, str],)[0]"]} <= set(compiled._state["fresh_code"])
    compiled._state["code"], compiled._state["fresh_code"] = dict(compiled._state["fresh_code"]), {}
    kept_refs, kept_point = made()
    assert not compiled._state["fresh_code"]  # all from the kept ones
    with _plain_python():
        plain_refs, plain_point = made()
    assert first_refs == kept_refs == plain_refs
    assert first_point.__new__.__code__ == kept_point.__new__.__code__ == plain_point.__new__.__code__
    assert kept_point(1) == (1, 0) and kept_point(y=2, x=1)._asdict() == {"x": 1, "y": 2}
    assert typing.get_type_hints(_Annotated, localns={"Point": kept_point}) == {"p": dict[str, kept_point]}


class _Annotated:
    p: dict[str, Point]  # type: ignore[name-defined]  # noqa: F821 - resolved by the test


def test_eval_and_compile_keep_their_own_rules_outside_the_plain_case() -> None:
    assert compiled.install()
    assert compiled.eval_kept("  1 + 1", {}) == 2  # eval strips leading blanks; compile would not
    x = 5  # noqa: F841 - read by eval through the caller's namespace
    assert compiled.eval_kept("x * 2") == 10
    code = compiled.compile_kept_text("y = 1", "my_file.py", "exec")
    assert code.co_filename == "my_file.py"
    assert compiled.compile_kept_text("1", "<string>", "eval", 0, True).co_filename == "<string>"
