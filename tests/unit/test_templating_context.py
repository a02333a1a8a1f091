from __future__ import annotations

import threading

import pytest

from orchestrator import get_current_context, set_current_context
from orchestrator.authoring.exceptions import NoTaskContextError, TemplateRenderError
from orchestrator.authoring.templating import render, render_string


def test_render_recurses_into_containers():
    ctx = {"ds": "2026-01-01", "n": 2}
    value = {"a": ["{{ ds }}", ("{{ n * 2 }}", 5)], "b": None, "c": {"{{ n }}"}}
    assert render(value, ctx) == {"a": ["2026-01-01", ("4", 5)], "b": None, "c": {"2"}}


def test_plain_strings_skip_jinja():
    assert render_string("no templates here", {}) == "no templates here"


def test_strict_undefined():
    with pytest.raises(TemplateRenderError, match="'missing' is undefined"):
        render("{{ missing }}", {})


def test_syntax_error():
    with pytest.raises(TemplateRenderError, match="Could not render template"):
        render("{{ unclosed", {})


def test_sandbox():
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("{{ x.__class__.__subclasses__() }}", {"x": 1})


def test_trailing_newline_kept():
    assert render("{{ a }}\n", {"a": 1}) == "1\n"


def test_leaf_hook_applies_to_non_strings_only():
    assert render([1, "x", 2.5], {}, leaf=lambda v: v * 10) == [10, "x", 25.0]


def test_set_current_context_nests_and_restores():
    with set_current_context({"a": 1}):
        assert get_current_context() == {"a": 1}
        with set_current_context({"a": 2}):
            assert get_current_context()["a"] == 2
        assert get_current_context()["a"] == 1
    with pytest.raises(NoTaskContextError):
        get_current_context()


def test_context_is_per_thread():
    seen = []

    def worker():
        try:
            get_current_context()
        except NoTaskContextError:
            seen.append("none")

    with set_current_context({"a": 1}):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == ["none"]


def test_python_errors_inside_templates_become_render_errors():
    with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateRenderError, match="Range too big"):
        render("{{ range(10**10) | list }}", {})


def test_native_mode_blocked_attribute_raises():
    from orchestrator.authoring.templating import default_environment

    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("{{ fn.__globals__ }}", {"fn": lambda: 1}, env=default_environment(native=True))
    with pytest.raises(TemplateRenderError, match="'nope' is undefined"):
        render("{{ nope }}", {}, env=default_environment(native=True))
