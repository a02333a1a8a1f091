"""Load DAG files from a folder, like Airflow's DagBag.

Every ``*.py`` file under the root is imported in isolation under a unique module name, with
the root first on ``sys.path`` while it runs (and last on it afterwards, so task code can
import helper modules from the DAGs folder lazily). An import error in one file is recorded (with the
file and the line, from the traceback or the ``SyntaxError``) and does not hide the others.
Files that do not contain the word "dag" are skipped (Airflow's safe mode) unless
``safe_mode=False``; patterns in a ``.airflowignore`` (or ``.stratusignore``) file at the
root (regular expressions, one a line, matched against the relative path) are skipped too.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.authoring import _stack, airflow_compat
from orchestrator.errors import DagDefinitionError, DagImportError

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG

_LOCK = threading.RLock()  # sys.path and sys.modules are process-wide
DEFAULT_IMPORT_TIMEOUT_S = 30.0  # Airflow's dagbag_import_timeout


class DagImportTimeout(Exception):
    """Raised inside a DAG file that takes too long to import (SIGALRM, main thread only)."""


@contextlib.contextmanager
def _import_deadline(timeout_s: float | None, path: str) -> Iterator[None]:
    # SIGALRM only works in the main thread; never disturb a timer someone else armed
    # (the runtime uses one for execution_timeout).
    usable = (
        timeout_s
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise DagImportTimeout(
            f"importing took longer than {timeout_s:g} s; move slow work (network calls, big reads) "
            "out of the top level of the DAG file and into tasks"
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(timeout_s or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
_IGNORE_FILES = (".airflowignore", ".stratusignore")


def module_name_for(path: str) -> str:
    """A module name unique to ``path`` (so two ``etl.py`` in different folders never clash)."""
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return f"stratus_dag_{digest}_{stem}"


def might_contain_dag(path: str) -> bool:
    """Safe mode: the file mentions "dag" (any case)."""
    try:
        with open(path, "rb") as fh:
            return b"dag" in fh.read().lower()
    except OSError:
        return True


def _error_line(exc: BaseException, path: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == os.path.abspath(path):
        return exc.lineno
    target = os.path.abspath(path)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == target:
            line = frame.lineno  # the deepest frame in the DAG file wins
    return line


def import_file(
    path: str, dags_root: str | None = None, *, timeout_s: float | None = None
) -> tuple[list[DAG], Any]:
    """Import ``path`` in isolation and return the DAGs it defined and the module.

    ``timeout_s`` stops a file whose top level runs too long (main thread only).

    Raises:
        DagImportError: with the file and line of the failure.
    """
    path = os.path.abspath(path)
    root = os.path.abspath(dags_root) if dags_root else os.path.dirname(path)
    name = module_name_for(path)
    collected: list[DAG] = []
    airflow_compat.install()  # `from airflow.sdk import dag, task` works without Airflow installed
    with _LOCK:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise DagImportError(f"{path}: not a Python file", file=path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        while root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
        previous, _stack.state.collector = _stack.state.collector, collected
        try:
            with _import_deadline(timeout_s, path):
                spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is an import error
            sys.modules.pop(name, None)
            if isinstance(exc, KeyboardInterrupt):
                raise
            line = _error_line(exc, path)
            where = f"{_stack.short_path(path)}:{line}" if line else _stack.short_path(path)
            detail = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, SyntaxError):
                detail = f"SyntaxError: {exc.msg}"
            elif isinstance(exc, DagDefinitionError):
                detail = str(exc)
            else:
                more = airflow_compat.hint(exc)
                detail += f". {more}" if more else ""
            raise DagImportError(f"{where}: {detail}", file=path, line=line) from exc
        finally:
            _stack.state.collector = previous
            # First on sys.path while the file runs (its folder's modules win); afterwards at
            # the end, as Airflow keeps the DAGs folder importable, so task code that imports
            # a helper module lazily still finds it when the task runs.
            while root in sys.path:
                sys.path.remove(root)
            sys.path.append(root)
    dags: dict[int, DAG] = {id(d): d for d in collected}
    from orchestrator.authoring.dag import DAG as DAGClass

    for value in list(vars(module).values()):
        if isinstance(value, DAGClass):
            dags.setdefault(id(value), value)
    out = []
    for d in dags.values():
        d.dags_root = root
        out.append(d)
    return out, module


class DagBag:
    """The DAGs of a folder (or of one file).

    Attributes:
        dags: ``{dag_id: DAG}``.
        import_errors: ``{file path: DagImportError}`` (file and line on the error).
        load_times: ``{file path: seconds}`` for every file imported.
        files: ``{dag_id: file path}``.
    Example::

        bag = DagBag("dags")
        for path, err in bag.import_errors.items():
            print(err)
    """

    def __init__(
        self,
        dags_root: str = "dags",
        *,
        safe_mode: bool = True,
        load: bool = True,
        import_timeout_s: float | None = DEFAULT_IMPORT_TIMEOUT_S,
    ) -> None:
        self.dags_root = os.path.abspath(dags_root if os.path.isdir(dags_root) else os.path.dirname(dags_root) or ".")
        self.safe_mode = safe_mode
        self.import_timeout_s = import_timeout_s
        self.dags: dict[str, DAG] = {}
        self.import_errors: dict[str, DagImportError] = {}
        self.load_times: dict[str, float] = {}
        self.files: dict[str, str] = {}
        if not load:
            return
        if os.path.isfile(dags_root):
            self.load_file(dags_root)
        elif os.path.isdir(dags_root):
            for path in self.list_files():
                self.load_file(path)
        else:
            raise DagImportError(f"{dags_root}: no such file or folder of DAGs", file=dags_root)

    @classmethod
    def for_dag(cls, dags_root: str, dag_id: str, **options: Any) -> DagBag:
        """A bag holding DAG ``dag_id`` of the folder ``dags_root`` (``stratus run``, ``dag.test()``).

        The files whose text holds the id are imported first, in the folder's order (the one
        that defines it is nearly always among them: the id is a literal or the ``@dag``
        function's name); only when none of them defines it is the whole folder loaded, so
        the bag then lists every DAG and import error, as ``DagBag(dags_root)`` does.
        """
        bag = cls(dags_root, load=False, **options)
        if not os.path.isdir(dags_root):
            return cls(dags_root, **options)
        needle = dag_id.encode()
        for path in bag.list_files():
            try:
                with open(path, "rb") as fh:
                    mentions = needle in fh.read()
            except OSError:
                mentions = True
            if mentions:
                bag.load_file(path)
                if dag_id in bag.dags:
                    return bag
        return cls(dags_root, **options)

    def _ignore_patterns(self) -> list[re.Pattern[str]]:
        patterns: list[re.Pattern[str]] = []
        for name in _IGNORE_FILES:
            path = os.path.join(self.dags_root, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    for raw in fh:
                        line = raw.split("#", 1)[0].strip()
                        if line:
                            patterns.append(re.compile(line))
        return patterns

    def list_files(self) -> list[str]:
        """Python files to load, sorted, skipping hidden folders, ``__pycache__`` and ignored paths."""
        ignore = self._ignore_patterns()
        out: list[str] = []
        for folder, dirs, files in os.walk(self.dags_root):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
            for name in sorted(files):
                if not name.endswith(".py") or name.startswith("__"):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, self.dags_root).replace(os.sep, "/")
                if any(p.search(rel) for p in ignore):
                    continue
                if self.safe_mode and not might_contain_dag(path):
                    continue
                out.append(path)
        return out

    def load_file(self, path: str) -> list[DAG]:
        """Import one file; record its DAGs, load time and any import error."""
        path = os.path.abspath(path)
        self.import_errors.pop(path, None)
        start = time.perf_counter()
        try:
            dags, _ = import_file(path, self.dags_root, timeout_s=self.import_timeout_s)
        except DagImportError as err:
            self.import_errors[path] = err
            return []
        finally:
            self.load_times[path] = time.perf_counter() - start
        added: list[DAG] = []
        for d in dags:
            other = self.dags.get(d.dag_id)
            if other is not None and other is not d:
                where = f"{_stack.short_path(d.fileloc)}:{d.lineno}"
                self.import_errors[path] = DagImportError(
                    f"{where}: DAG id '{d.dag_id}' is already defined at "
                    f"{_stack.short_path(other.fileloc)}:{other.lineno}; give each DAG a unique dag_id.",
                    file=path,
                    line=d.lineno,
                )
                continue
            self.dags[d.dag_id] = d
            self.files[d.dag_id] = path
            added.append(d)
        return added

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG called ``dag_id``; raises ``DagImportError`` naming the folder otherwise."""
        try:
            return self.dags[dag_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(dag_id, list(self.dags), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            errors = f" ({len(self.import_errors)} file(s) failed to import; run `stratus validate`)" if self.import_errors else ""
            raise DagImportError(
                f"No DAG '{dag_id}' in {_stack.short_path(self.dags_root)}.{hint}{errors}", file=self.dags_root
            ) from None

    @property
    def dag_ids(self) -> list[str]:
        return sorted(self.dags)


_CACHE: dict[tuple[str, str], tuple[tuple[int, int], dict[str, DAG]]] = {}


def _version(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def get_dag(dags_root: str, fileloc: str, dag_id: str) -> DAG:
    """The DAG ``dag_id`` from ``fileloc`` (relative to ``dags_root``), loading the file once per
    process and again when it changed (``stratus dev`` runs the edited file's code from the next task on).

    This is the worker's path: the plan's ``Step.module`` is ``fileloc``.

    Raises:
        DagImportError: when the file does not import or does not define ``dag_id``.
    """
    root = os.path.abspath(dags_root)
    key = (root, fileloc)
    path = os.path.join(root, fileloc)
    version = _version(path)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None or cached[0] != version:
            loaded, _ = import_file(path, root)
            cached = (version, {d.dag_id: d for d in loaded})
            _CACHE[key] = cached
    dags = cached[1]
    try:
        return dags[dag_id]
    except KeyError:
        raise DagImportError(
            f"{fileloc}: defines no DAG '{dag_id}' (it defines {sorted(dags) or 'none'}); deploy the DAG file "
            "that matches the plan.",
            file=fileloc,
        ) from None


_DIGESTS: dict[str, tuple[tuple[int, int], str]] = {}


def source_digest(dags_root: str, fileloc: str) -> str:
    """``sha256:<12 hex>`` of the DAG file's current text (cached per file version): which code a task ran."""
    import hashlib

    path = os.path.join(os.path.abspath(dags_root), fileloc)
    version = _version(path)
    cached = _DIGESTS.get(path)
    if cached is None or cached[0] != version:
        try:
            with open(path, "rb") as fh:
                digest = "sha256:" + hashlib.sha256(fh.read()).hexdigest()[:12]
        except OSError:
            digest = "missing"
        cached = (version, digest)
        _DIGESTS[path] = cached
    return cached[1]


def clear_cache() -> None:
    """Forget the files ``get_dag`` loaded (tests, hot reload)."""
    with _LOCK:
        _CACHE.clear()
