"""Templated fields render in Jinja's sandbox: no way from a template to Python internals."""

from __future__ import annotations

import pytest

from orchestrator.authoring.exceptions import TemplateRenderError
from orchestrator.authoring.templating import default_environment, render

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(1) }}",
    "{{ fn.__globals__ }}",
    "{{ fn.__code__.co_consts }}",
    "{{ ''.join.__self__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ dag_run.__dict__ }}",
]


class _Run:
    conf = {"x": 1}


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_refuses_python_internals(source):
    ctx = {"fn": lambda: 1, "dag_run": _Run()}
    with pytest.raises(TemplateRenderError, match=r"Could not render template .*unsafe"):
        render(source, ctx)


@pytest.mark.parametrize("source", ESCAPES)
def test_native_rendering_leaks_nothing_either(source):
    from jinja2 import Undefined

    ctx = {"fn": lambda: 1, "dag_run": _Run()}
    try:
        value = render(source, ctx, env=default_environment(native=True))
    except TemplateRenderError as exc:
        assert "unsafe" in str(exc)
    else:
        # A lone blocked attribute comes back as the sandbox's Undefined, never the object.
        assert isinstance(value, Undefined)


def test_native_rendering_raises_on_a_blocked_attribute():
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("{{ fn.__globals__ }}", {"fn": lambda: 1}, env=default_environment(native=True))


def test_conf_values_are_rendered_once_as_data():
    payload = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    ctx = {"dag_run": {"conf": {"x": payload}}, "params": {"p": payload}}
    # A hostile conf value comes out literally: rendering is not applied to what it produces.
    assert render("{{ dag_run.conf['x'] }}", ctx) == payload
    assert render(["{{ params.p }}", {"k": "{{ params.p }}"}], ctx) == [payload, {"k": payload}]


def test_undefined_names_are_errors_not_empty_strings():
    with pytest.raises(TemplateRenderError, match="'config' is undefined"):
        render("{{ config }}", {})


def test_resource_exhaustion_is_refused_as_a_render_error():
    with pytest.raises(TemplateRenderError, match="Range too big"):
        render("{{ range(10**10) | list }}", {})
