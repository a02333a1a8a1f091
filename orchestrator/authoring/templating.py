"""Sandboxed Jinja rendering of templated operator fields.

Only strings are rendered; lists, tuples, dicts and sets are walked; every other value is
returned as is. The environment is Jinja's ``SandboxedEnvironment`` with ``StrictUndefined``:
a misspelt variable is an error, not an empty string. Airflow's date filters are there
(``ds``, ``ds_nodash``, ``ts``, ``ts_nodash``, ``ts_nodash_with_tz``), plus Stratus's
``shell_quote`` (``{{ dag_run.conf.x | shell_quote }}``: one safe shell word); a DAG's
``user_defined_filters`` and ``user_defined_macros`` are added, and
``render_template_as_native_obj=True`` renders ``"{{ [1, 2] }}"`` to a list, as in Airflow.
A templated string that ends with one of the operator's ``template_ext`` (``run.sh`` for a
``BashOperator``) names a template file, looked up in the DAG file's folder and then in the
DAG's ``template_searchpath`` (:func:`load_template_files`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from orchestrator.authoring.exceptions import TemplateRenderError

_MARKERS = ("{{", "{%", "{#")


def _ds(value: date) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: date) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


def _shell_quote(value: Any) -> str:
    """One shell word holding ``value`` (``shlex.quote``): for conf templated into a bash command."""
    import shlex

    return shlex.quote("" if value is None else str(value))


FILTERS: dict[str, Callable[[Any], str]] = {
    "shell_quote": _shell_quote,
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def make_environment(*, native: bool = False, filters: Mapping[str, Callable[..., Any]] | None = None,
                     undefined: type | None = None, options: Mapping[str, Any] | None = None,
                     searchpath: list[str] | None = None) -> Any:
    """A new sandboxed environment (native: values keep their Python types).

    ``undefined`` replaces ``StrictUndefined``; ``options`` are more Jinja ``Environment``
    arguments (a DAG's ``jinja_environment_kwargs``, e.g. ``trim_blocks``); ``searchpath``
    folders serve ``{% include %}`` and ``{% import %}`` (the DAG's folder first, as in Airflow).
    """
    # Imported lazily: most tasks have nothing to render, and import time is cold-start time.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    cls: Any = SandboxedEnvironment
    if native:
        from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat

        class SandboxedNativeEnvironment(SandboxedEnvironment):
            code_generator_class = NativeCodeGenerator
            concat = staticmethod(native_concat)  # type: ignore[assignment]
            template_class = NativeTemplate

        cls = SandboxedNativeEnvironment
    settings: dict[str, Any] = {"undefined": undefined or StrictUndefined, "keep_trailing_newline": True,
                                "autoescape": False, "cache_size": 400}
    if searchpath:
        from jinja2 import FileSystemLoader

        settings["loader"] = FileSystemLoader(searchpath)
    settings.update(options or {})
    env = cls(**settings)
    env.filters.update(FILTERS)
    if filters:
        env.filters.update(filters)
    return env


@functools.lru_cache(maxsize=2)
def default_environment(native: bool = False) -> Any:
    """The shared environment for DAGs without their own filters."""
    return make_environment(native=native)


def render_string(source: str, context: Mapping[str, Any], *, env: Any = None) -> Any:
    """Render one template string with ``context`` (a str, or any type with a native env).

    ``env``: the Jinja environment, or a function that returns it (called only for a string
    that holds a template marker: Jinja is not imported for a task with nothing to render).

    Raises:
        TemplateRenderError: on a syntax error, an undefined name or a sandbox violation.
    """
    if not any(marker in source for marker in _MARKERS):
        return source
    from jinja2 import TemplateError

    from jinja2 import Undefined

    if env is None:
        env = default_environment()
    elif callable(env) and not hasattr(env, "from_string"):
        env = env()
    try:
        result = env.from_string(source).render(**context)
        if isinstance(result, Undefined):
            # Native mode hands back a lone undefined (or sandbox-blocked) value as is; text
            # mode would have raised while turning it into a string, so make it raise here too.
            str(result)
        return result
    except TemplateError as exc:
        raise TemplateRenderError(f"Could not render template {source!r}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. the sandbox's OverflowError("Range too big"), 1/0
        raise TemplateRenderError(f"Could not render template {source!r}: {type(exc).__name__}: {exc}") from exc


def render(
    value: Any, context: Mapping[str, Any], *, leaf: Callable[[Any], Any] | None = None, env: Any = None
) -> Any:
    """Render ``value``: strings through Jinja, containers recursively, other values as is.

    ``leaf``, when given, is applied to every value that is neither a string nor a container
    (the operator uses it to resolve upstream output references; what it returns is not
    rendered again). ``env`` (or a function returning it, see ``render_string``) defaults to
    the shared sandboxed environment. Example::

        render({"path": "s3://b/{{ ds }}/"}, {"ds": "2026-01-01"}) == {"path": "s3://b/2026-01-01/"}
    """
    if isinstance(value, str):
        return render_string(value, context, env=env)
    if isinstance(value, list):
        return [render(v, context, leaf=leaf, env=env) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(render(v, context, leaf=leaf, env=env) for v in value)
    if isinstance(value, dict):
        return {k: render(v, context, leaf=leaf, env=env) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(render(v, context, leaf=leaf, env=env) for v in value)
    if leaf is not None:
        return leaf(value)
    return value


def load_template_files(value: Any, extensions: tuple[str, ...], searchpath: list[str], *, task_id: str) -> Any:
    """Replace every string of ``value`` ending with one of ``extensions`` by that file's text.

    Airflow's rule: such a string is a template file name, relative to a folder of the search
    path (the DAG file's folder first, then ``template_searchpath``); the file's text is then
    rendered like any template. Containers are walked.

    Raises:
        TemplateRenderError: the file is in none of the folders (they are listed).
    """
    if not extensions:
        return value
    if isinstance(value, str):
        if not value.endswith(extensions):
            return value
        candidates = [value] if os.path.isabs(value) else [os.path.join(folder, value) for folder in searchpath]
        for path in candidates:
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    return fh.read()
        raise TemplateRenderError(
            f"Task '{task_id}': template file {value!r} (a value ending in {', '.join(extensions)} names a "
            f"template file, as in Airflow) was not found in {', '.join(map(repr, searchpath)) or 'any folder'}. "
            "Put the file next to the DAG file or in the DAG's template_searchpath, or add a trailing space "
            "to use the text itself."
        )
    if isinstance(value, list):
        return [load_template_files(v, extensions, searchpath, task_id=task_id) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(load_template_files(v, extensions, searchpath, task_id=task_id) for v in value)
    if isinstance(value, dict):
        return {k: load_template_files(v, extensions, searchpath, task_id=task_id) for k, v in value.items()}
    return value
