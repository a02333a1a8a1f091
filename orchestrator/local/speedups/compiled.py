"""What every fresh process compiles, kept between processes: regular expressions and code made from text.

The CLI and the local cloud only. A fresh ``stratus run`` of a one-task DAG spent about a fifth of
its CPU compiling the same things as the process before it:

- **Regular expressions** (~540, 130-170 ms here: moto's URL index alone holds ~250; botocore,
  urllib3, werkzeug). Python compiles a pattern in two steps: ``re._parser`` and ``re._compiler``
  turn it into a list of integers (pure Python, the whole cost), then ``_sre.compile`` makes the
  pattern object from that list, which depends only on the pattern, the flags and Python's ``re``.
  In place of ``re._compiler.compile`` goes the same steps (Python 3.11 to 3.13's function, step
  for step) keeping each pattern's list; a later process hands a kept list to ``_sre.compile``.
- **Code made from text** (~130 ms): ``dataclasses`` writes each ``__init__``, ``__eq__``,
  ``__repr__``... as source and runs it with ``exec`` (~410 functions of ~95 dataclasses: pydantic,
  annotated_types, botocore, moto, Stratus); ``typing.ForwardRef`` compiles each string annotation
  (~1,050: pydantic reads every model's); ``collections.namedtuple`` makes its ``__new__`` with ``eval``.
  Those three modules' ``exec``, ``compile`` and ``eval`` (looked up as globals, so a module global
  of the same name takes their place there only) get the code object kept for the same text,
  compiled as they compile it (filename ``<string>``, no inherited ``__future__`` flags: the
  modules have none, checked at install; this interpreter's optimisation level).

What stays exactly as before:

- a kept pattern equals the one Python makes (CPython compares a pattern's string, flags and
  code); kept code equals what ``exec``/``eval``/``compile`` compile from the text. ``install()``
  checks patterns on probes and the three modules for ``__future__`` flags and installs nothing
  when one differs; the tests compare every item a local cloud keeps both ways;
- errors: a pattern or text that does not compile raises the same error at the same place and is not kept;
- warnings: a pattern ``re``'s parser might warn about (a ``[`` right after ``[``, ``--``, ``&&``,
  ``~~`` or ``||``, a conditional group ``(?(``) is never kept, so its FutureWarning or
  DeprecationWarning comes as before, from the same frame;
- ``re.DEBUG``, compiled-pattern arguments, ``str``/``bytes`` subclasses, ``compile`` with flags
  or another filename, ``eval`` of text with leading blanks go to Python's own functions.

On disk: one file in the deploy cache's folder, authenticated the same way
(``local.deploycache.write_private_value``, which writes code objects in ``marshal``'s form),
named by Python's version, ``_sre``'s format and the optimisation level; written at exit by a
process that compiled something it did not find there (at most ``MAX_KEPT`` of each kind, this
process's first). What a DAG's own code compiles is kept too, in that folder only this user can
read. ``STRATUS_DEPLOY_CACHE=0`` turns it off with the deploy cache. Never installed on AWS (a
Lambda handler never imports this module).
"""

from __future__ import annotations

import __future__
import _sre
import atexit
import builtins
import collections
import dataclasses
import hashlib
import re
import sys
import threading
import typing
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


# -- code compiled from text: dataclass methods, forward references, namedtuple constructors
def _code_for(source: str, mode: str) -> CodeType:
    """``source``'s code object as ``exec``/``eval``/``compile`` compile it inside a module without
    ``__future__`` imports (checked at install), from the kept ones when it can."""
    key = (mode, source)
    code = _state["code"].get(key)
    if code is not None:
        _state["used_code"].add(key)
        return code  # type: ignore[no-any-return]
    code = compile(source, "<string>", mode, dont_inherit=True)  # a SyntaxError propagates, nothing kept
    _state["fresh_code"][key] = code
    return code


def _callers(globals: Any, locals: Any) -> tuple[Any, Any]:
    if globals is None:  # exec's and eval's defaults: the namespaces of the frame that called them
        caller = sys._getframe(2)
        return caller.f_globals, caller.f_locals if locals is None else locals
    return globals, locals


def exec_kept(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """``exec`` for ``dataclasses`` (each generated method is a text ``exec``'d)."""
    globals, locals = _callers(globals, locals)
    if type(source) is not str:
        return builtins.exec(source, globals, locals)  # type: ignore[no-any-return]
    return builtins.exec(_code_for(source, "exec"), globals, locals)  # type: ignore[no-any-return]


def eval_kept(source: Any, globals: Any = None, locals: Any = None, /) -> Any:
    """``eval`` for ``collections`` (``namedtuple``'s ``__new__`` is a lambda ``eval``'d)."""
    globals, locals = _callers(globals, locals)
    if type(source) is not str or source[:1] in (" ", "\t"):  # eval strips those; compile would not
        return builtins.eval(source, globals, locals)
    return builtins.eval(_code_for(source, "eval"), globals, locals)


def compile_kept_text(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> Any:
    """``compile`` for ``typing`` (each ``ForwardRef`` compiles its annotation string)."""
    if args or kwargs or type(source) is not str or filename != "<string>":
        return builtins.compile(source, filename, mode, *args, **kwargs)
    return _code_for(source, mode)


# Where a module compiles text by the builtin's global name, and what takes its place.
_TEXT_SITES: tuple[tuple[Any, str, Any], ...] = (
    (dataclasses, "exec", exec_kept),
    (typing, "compile", compile_kept_text),
    (collections, "eval", eval_kept),
)


# -- install, keep
def _compiles_plainly(module: Any, name: str) -> bool:
    """``module`` calls builtin ``name`` by its global name and has no ``__future__`` flags that
    change what it compiles (what ``_code_for`` compiles without)."""
    future = __future__.annotations.compiler_flag | __future__.barry_as_FLUFL.compiler_flag
    functions = _functions_of(module)
    return (name not in vars(module) and any(name in f.__code__.co_names for f in functions)
            and not any(f.__code__.co_flags & future for f in functions))


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
    return all(_compiles_plainly(module, name) for module, name, _ in _TEXT_SITES)


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
        for module, name, replacement in _TEXT_SITES:
            setattr(module, name, replacement)  # the module's global shadows the builtin
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

    # Copies (each one C call under the GIL): a daemon thread may still be compiling at exit.
    fresh_regex, fresh_code = dict(_state["fresh_regex"]), dict(_state["fresh_code"])
    used_regex, used_code = set(_state["used_regex"]), set(_state["used_code"])
    if not (fresh_regex or fresh_code) or not deploycache.enabled():
        return
    regex = _merged(_state["regex"], used_regex, fresh_regex)
    code = _merged(_state["code"], used_code, fresh_code)
    deploycache.write_private_value(_file_name(), {"regex": deploycache.Marshalled(regex),
                                                   "code": deploycache.Marshalled(code)})
    _state.update(regex=regex, code=code, fresh_regex={}, fresh_code={})


def uninstall() -> None:
    """Python's own compile and exec again (tests)."""
    with _lock:
        if _state["original"] is not None:
            _compiler.compile = _state["original"]
            _state["original"] = None
            for module, name, _ in _TEXT_SITES:
                vars(module).pop(name, None)
            atexit.unregister(save)
