"""What every fresh process compiles, kept between processes: regular expressions and dataclass methods.

The CLI and the local cloud only. A fresh ``stratus run`` of a one-task DAG spent about a fifth of
its CPU compiling the same things as the process before it:

- **Regular expressions** (~540, 130-170 ms here: moto's URL index alone holds ~250; botocore,
  urllib3, werkzeug). Python compiles a pattern in two steps: ``re._parser`` and ``re._compiler``
  turn it into a list of integers (pure Python, the whole cost), then ``_sre.compile`` makes the
  pattern object from that list, which depends only on the pattern, the flags and Python's ``re``.
  In place of ``re._compiler.compile`` goes the same steps (Python 3.11 to 3.13's function, step
  for step) keeping each pattern's list; a later process hands a kept list to ``_sre.compile``.
- **Dataclass methods** (~410 functions of ~95 dataclasses, ~95 ms: pydantic, annotated_types,
  botocore, moto, Stratus): ``dataclasses`` writes each ``__init__``, ``__eq__``, ``__repr__``...
  as source text and ``exec``\\ s it, compiling it every time. The module's ``exec`` is given the code
  object kept for the same text (compiled as ``exec`` would: filename ``<string>``, no inherited
  ``__future__`` flags, this interpreter's optimisation level), and ``exec``\\ s that.

What stays exactly as before:

- a kept pattern equals the one Python makes (CPython compares a pattern's string, flags and
  code); a kept function's code is the code ``exec`` compiles. ``install()`` checks both on probes
  and installs nothing when one differs; the tests compare every item a local cloud keeps;
- errors: a pattern or text that does not compile raises the same error at the same place and is not kept;
- warnings: a pattern ``re``'s parser might warn about (a ``[`` right after ``[``, ``--``, ``&&``,
  ``~~`` or ``||``, a conditional group ``(?(``) is never kept, so its FutureWarning or
  DeprecationWarning comes as before, from the same frame;
- ``re.DEBUG``, compiled-pattern arguments and ``str``/``bytes`` subclasses go to Python's own function.

On disk: one file in the deploy cache's folder, authenticated the same way
(``local.deploycache.write_private_value``, which writes code objects in ``marshal``'s form), named by Python's version, ``_sre``'s format and the
optimisation level; written at exit by a process that compiled something it did not find there
(at most ``MAX_KEPT`` of each kind, this process's first). ``STRATUS_DEPLOY_CACHE=0`` turns it off
with the deploy cache. Never installed on AWS (a Lambda handler never imports this module).
"""

from __future__ import annotations

import __future__
import _sre
import atexit
import builtins
import dataclasses
import hashlib
import re
import sys
import threading
from re import _compiler, _parser  # type: ignore[attr-defined]
from types import CodeType
from typing import Any

MAX_KEPT = 4096
# Substrings after which re's parser may warn (see the module docstring): such patterns are compiled every time.
_MAY_WARN = ("[[", "--", "&&", "~~", "||", "(?(")
_MAY_WARN_BYTES = tuple(s.encode() for s in _MAY_WARN)
_PROBES = (r"(?P<year>\d{4})-(?P<m>\d\d)|x+?", r"^(?:[a-z0-9-]+\.)*amazonaws\.com(?::\d+)?$", r"(?i)\bfoo(?=bar)",
           b"[^\\x00-\\x7f]+|(a)(?(1)b|c)")

Entry = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]
RegexKey = tuple[bool, "str | bytes", int]

_state: dict[str, Any] = {"original": None, "regex": {}, "code": {}, "fresh_regex": {}, "fresh_code": {},
                          "used_regex": set(), "used_code": set()}
_lock = threading.Lock()


def _file_name() -> str:
    tag = f"{sys.version}|{_sre.MAGIC}|{_sre.CODESIZE}|{sys.maxunicode}|{sys.flags.optimize}"
    return f"compiled-{hashlib.sha256(tag.encode()).hexdigest()[:16]}.pickle"


# -- regular expressions
def _may_warn(pattern: str | bytes) -> bool:
    marks = _MAY_WARN_BYTES if isinstance(pattern, bytes) else _MAY_WARN
    return any(mark in pattern for mark in marks)  # type: ignore[operator]


def _entry_of(parsed: Any, flags: int) -> Entry:
    """What Python's ``re._compiler.compile`` hands ``_sre.compile`` for a parsed pattern."""
    code = _compiler._code(parsed, flags)
    groupindex = parsed.state.groupdict
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    # Opcodes are int subclasses of re's own (not picklable): plain ints, the same values.
    return (int(flags | parsed.state.flags), [int(op) for op in code], parsed.state.groups - 1, dict(groupindex),
            tuple(indexgroup))


def _code_of(pattern: str | bytes, flags: int) -> Entry:
    return _entry_of(_parser.parse(pattern, flags), flags)


def _make(pattern: str | bytes, entry: Entry) -> re.Pattern[Any]:
    final_flags, code, groups, groupindex, indexgroup = entry
    return _sre.compile(pattern, final_flags, code, groups, dict(groupindex), indexgroup)  # type: ignore[no-any-return]


def compile_kept(p: Any, flags: int = 0) -> Any:
    """``re._compiler.compile`` that takes a pattern's code from the kept ones when it can."""
    if flags & re.DEBUG or type(p) not in (str, bytes):  # subclasses: Python's own (a pickle would import them)
        return _state["original"](p, flags)
    key = (type(p) is bytes, p, int(flags))  # str and bytes apart without comparing them (python -b)
    entry = _state["regex"].get(key)
    if entry is not None:
        _state["used_regex"].add(key)
        return _make(p, entry)
    # Parsed from this frame as from Python's own compile: the parser's warnings point where they did.
    entry = _entry_of(_parser.parse(p, flags), flags)
    if not _may_warn(p):
        _state["fresh_regex"][key] = entry
    return _make(p, entry)


# -- dataclass methods
def _compile_text(text: str) -> CodeType:
    """``text`` compiled as ``exec(text, ...)`` inside ``dataclasses`` compiles it (it has no ``__future__`` imports)."""
    return compile(text, "<string>", "exec", dont_inherit=True)


def exec_kept(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """``exec`` for ``dataclasses``: a text's code object comes from the kept ones when it can."""
    if globals is None:  # exec's defaults: the caller's namespaces
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    if type(source) is not str:
        return builtins.exec(source, globals, locals)  # type: ignore[no-any-return]
    code = _state["code"].get(source)
    if code is not None:
        _state["used_code"].add(source)
    else:
        code = _compile_text(source)
        _state["fresh_code"][source] = code
    return builtins.exec(code, globals, locals)  # type: ignore[no-any-return]


# -- install, keep
def _dataclasses_compiles_plainly() -> bool:
    """``dataclasses`` calls ``exec`` by its global name and has no ``__future__`` flags for ``exec`` to inherit."""
    future = __future__.annotations.compiler_flag | __future__.barry_as_FLUFL.compiler_flag  # what changes compiling
    functions = [f for f in _functions_of(dataclasses) if "exec" in f.__code__.co_names]
    return bool(functions) and "exec" not in vars(dataclasses) and not any(
        f.__code__.co_flags & future for f in _functions_of(dataclasses))


def _functions_of(module: Any) -> list[Any]:
    found: list[Any] = []
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            found.extend(v for v in vars(value).values() if hasattr(v, "__code__"))
        elif hasattr(value, "__code__") and getattr(value, "__module__", None) == module.__name__:
            found.append(value)
    return found


def _probes_ok() -> bool:
    original = _state["original"]
    if not all(_make(p, _code_of(p, 0)) == original(p, 0) for p in _PROBES):
        return False
    return _dataclasses_compiles_plainly()


def _load() -> None:
    from orchestrator.local import deploycache

    kept = deploycache.read_private(_file_name())
    if not isinstance(kept, dict):
        return
    regex, code = kept.get("regex"), kept.get("code")
    if isinstance(regex, dict):
        _state["regex"] = regex
    if isinstance(code, dict):
        _state["code"] = code


def install() -> bool:
    """Use what earlier processes compiled, and keep what this one compiles (idempotent); returns whether installed."""
    from orchestrator.local import deploycache

    with _lock:
        if _state["original"] is not None:
            return True
        if not deploycache.enabled() or getattr(_compiler.compile, "__name__", "") != "compile":
            return False
        _state["original"] = _compiler.compile
        try:
            ok = _probes_ok()
        except Exception:  # noqa: BLE001 - another Python's re or dataclasses: leave them as they are
            ok = False
        if not ok:
            _state["original"] = None
            return False
        _load()
        _compiler.compile = compile_kept
        dataclasses.exec = exec_kept  # type: ignore[attr-defined]  # the module's global shadows the builtin
        atexit.register(save)
        return True


def _merged(kept: dict[Any, Any], used: set[Any], fresh: dict[Any, Any]) -> dict[Any, Any]:
    """Old entries this process did not use first, then those it used, then its fresh ones; at most MAX_KEPT."""
    merged = {k: v for k, v in kept.items() if k not in used}
    merged.update((k, kept[k]) for k in used if k in kept)
    merged.update(fresh)
    return dict(list(merged.items())[-MAX_KEPT:]) if len(merged) > MAX_KEPT else merged


def save() -> None:
    """Write the kept items with the ones this process compiled afresh (nothing when there are none)."""
    from orchestrator.local import deploycache

    fresh_regex, fresh_code = dict(_state["fresh_regex"]), dict(_state["fresh_code"])
    if not (fresh_regex or fresh_code) or not deploycache.enabled():
        return
    regex = _merged(_state["regex"], _state["used_regex"], fresh_regex)
    code = _merged(_state["code"], _state["used_code"], fresh_code)
    deploycache.write_private_value(_file_name(), {"regex": regex, "code": code})
    _state.update(regex=regex, code=code, fresh_regex={}, fresh_code={})


def uninstall() -> None:
    """Python's own compile and exec again (tests)."""
    with _lock:
        if _state["original"] is not None:
            _compiler.compile = _state["original"]
            _state["original"] = None
            vars(dataclasses).pop("exec", None)
            atexit.unregister(save)
