"""Sandboxed Jinja rendering of templated operator fields.

Only strings are rendered; lists, tuples, dicts and sets are walked; every other value is
returned as is. The environment is Jinja's ``SandboxedEnvironment`` with ``StrictUndefined``:
a misspelt variable is an error, not an empty string.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.authoring.exceptions import TemplateRenderError

_MARKERS = ("{{", "{%", "{#")


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    # Imported lazily: most tasks have nothing to render, and import time is cold-start time.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> Any:
    return _environment().from_string(source)


def render_string(source: str, context: Mapping[str, Any]) -> str:
    """Render one template string with ``context``.

    Raises:
        TemplateRenderError: on a syntax error, an undefined name or a sandbox violation.
    """
    if not any(marker in source for marker in _MARKERS):
        return source
    from jinja2 import TemplateError

    try:
        return _compile(source).render(**context)
    except TemplateError as exc:
        raise TemplateRenderError(f"Could not render template {source!r}: {exc}") from exc


def render(value: Any, context: Mapping[str, Any], *, leaf: Callable[[Any], Any] | None = None) -> Any:
    """Render ``value``: strings through Jinja, containers recursively, other values as is.

    ``leaf``, when given, is applied to every value that is neither a string nor a container
    (the operator uses it to resolve upstream output references; what it returns is not
    rendered again). Example::

        render({"path": "s3://b/{{ ds }}/"}, {"ds": "2026-01-01"}) == {"path": "s3://b/2026-01-01/"}
    """
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, list):
        return [render(v, context, leaf=leaf) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(render(v, context, leaf=leaf) for v in value)
    if isinstance(value, dict):
        return {k: render(v, context, leaf=leaf) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(render(v, context, leaf=leaf) for v in value)
    if leaf is not None:
        return leaf(value)
    return value
