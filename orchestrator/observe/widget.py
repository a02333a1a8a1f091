"""The CloudWatch custom widget: one event in, the run grid's HTML out.

The dashboard calls the widget function with ``{"widgetContext": {...}}`` plus the widget's
params at the top level (``dag_id``). A ``cwdb-action`` button calls a function again with its
own JSON params (``{"action": "clear", ...}``), also at the top level, and shows the returned
HTML in place of the widget: so an action runs, then the grid is drawn again with a notice.
``{"describe": true}`` returns the widget's documentation (markdown), AWS's convention.

Viewing and acting are two functions, authorised apart (issue #15):

- the widget function (``<stack>-widget``, a read-only role) draws the grid; it refuses
  every action, and draws no action buttons unless the stack enables them;
- with the template parameter ``WidgetActions=on`` the stack adds ``<stack>-widget-actions``
  (a role that may clear and trigger); the buttons call that function, so only people
  allowed ``lambda:InvokeFunction`` on it can act, while readers of the dashboard only view.
  It checks every action (``check_action``) before the engine sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import math
import re

from orchestrator.errors import NotFoundError, StratusError
from orchestrator.observe.grid import STYLE, WidgetLinks, render_grid
from orchestrator.observe.gridmodel import TimeRange
from orchestrator.observe.service import ActionError, RunsView

# Actions a dashboard button may ask for (marking by hand stays in the CLI and the local UI).
WIDGET_ACTIONS = ("clear", "trigger")
MAX_RUNS = 50
# The keys each action may carry (the widget's own params ride along on every call).
_VIEW_KEYS = {"dag_id", "max_runs", "run_id"}
ACTION_KEYS = {
    "clear": {"action", "task_id", "downstream", "failed_only"} | _VIEW_KEYS,
    "trigger": {"action"} | _VIEW_KEYS,
    "select": {"action"} | _VIEW_KEYS,
}
_ID_RE = re.compile(r"^[A-Za-z0-9_.:+\-]{1,250}$")
ACTIONS_OFF = (
    "Actions are off on this dashboard: the widget only shows runs. A stack deployed with "
    "WidgetActions=on adds the separately authorised widget-actions function for the buttons."
)


class WidgetInputError(StratusError):
    """A widget event whose field has the wrong shape (named in the message)."""

DOCS = """## Stratus run grid

Draws the runs of one Stratus DAG like Airflow's grid: a column per run (oldest left, bar height
is the run's duration), a row per task (task groups first, mapped tasks summarised), each cell
coloured by state. The newest run, or the one whose bar you click, is listed below the grid with
every try, its duration, its error and a link to its CloudWatch log stream.

Read-only unless the stack was deployed with `WidgetActions=on`; then buttons (each asks for
confirmation) call the separately authorised `<stack>-widget-actions` function: **Trigger run**
(with the JSON typed in the conf field as the run's conf), **Retry**/**Clear** a task, **Clear failed**.

The time range of the dashboard selects the runs shown.

### Widget parameters
Param | Description
---|---
**dag_id** | The DAG to show (required)
**max_runs** | Most runs shown (a whole number; default: as many as fit; at most 50)

### Example parameters
``` yaml
dag_id: daily_sales
```
"""


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WidgetInputError(f"The widget event's {field} must be an object, got {type(value).__name__}.")
    return value


def widget_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's ``widgetContext``, checked to be an object."""
    return _mapping(event.get("widgetContext"), "widgetContext")


def merged_params(event: Mapping[str, Any]) -> dict[str, Any]:
    """The widget's params with an action's params (top-level keys) over them."""
    context = widget_context(event)
    params = dict(_mapping(context.get("params"), "widgetContext.params"))
    params.update({k: v for k, v in event.items() if k not in ("widgetContext", "describe")})
    return params


def _millis(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 253402300799999:  # up to 9999-12-31
        raise WidgetInputError(f"The widget event's {field} must be epoch milliseconds, got {str(value)[:40]!r}.")
    return float(value)


def time_range_of(context: Mapping[str, Any]) -> TimeRange | None:
    """The dashboard's time range (its zoom when the user zoomed in), as a ``TimeRange``."""
    rng = _mapping(context.get("timeRange"), "widgetContext.timeRange")
    zoom = _mapping(rng.get("zoom"), "widgetContext.timeRange.zoom")
    start = _millis(zoom.get("start", rng.get("start")), "widgetContext.timeRange.start")
    end = _millis(zoom.get("end", rng.get("end")), "widgetContext.timeRange.end")
    if start is None and end is None:
        return None
    return TimeRange.from_millis(start, end)


def max_runs_of(params: Mapping[str, Any], context: Mapping[str, Any]) -> int:
    """The widget parameter ``max_runs`` (an integer, at most ``MAX_RUNS``), else what fits."""
    value = params.get("max_runs")
    if value is None or value == "":
        return runs_that_fit(context.get("width"))
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit() \
            or len(str(value).strip()) > 6:
        raise WidgetInputError(f"The widget parameter max_runs must be a whole number from 1 to {MAX_RUNS}, "
                               f"got {str(value)[:40]!r}.")
    return max(1, min(MAX_RUNS, int(value)))


def check_action(view: RunsView, params: Mapping[str, Any]) -> None:
    """Refuse a widget action whose params are not exactly what its button sends.

    The action is one of ``WIDGET_ACTIONS``, carries only its own keys, names a registered
    DAG with an id-shaped string; a clear names an existing run of it and, when given, a task
    of the run's plan.
    """
    action = params.get("action")
    if action not in WIDGET_ACTIONS:
        raise ActionError(f"Unknown action {str(action)[:40]!r}: the widget accepts {', '.join(WIDGET_ACTIONS)}.")
    extra = sorted(str(k)[:40] for k in set(params) - ACTION_KEYS[action])
    if extra:
        raise ActionError(f"Action '{action}' does not take {', '.join(map(repr, extra))}.")
    for name in ("dag_id", "run_id", "task_id"):
        value = params.get(name)
        if value is not None and (not isinstance(value, str) or not _ID_RE.match(value)):
            raise ActionError(f"Action '{action}': {name} must be an id (letters, digits, _ . : + -), "
                              f"got {str(value)[:40]!r}.")
    for name in ("downstream", "failed_only"):
        if params.get(name) not in (None, True, False):
            raise ActionError(f"Action '{action}': {name} must be true or false.")
    dag_id = str(params.get("dag_id") or "")
    plan = view.plan(dag_id)  # NotFoundError for an unregistered DAG
    if action == "clear":
        if not params.get("run_id"):
            raise ActionError("Action 'clear' needs 'run_id'.")
        run = view.run(str(params["run_id"]), dag_id)
        try:
            plan = view.run_plan(run)
        except NotFoundError:
            pass
        task_id = params.get("task_id")
        if task_id and task_id not in {s.task_id for s in plan.steps}:
            raise ActionError(f"Run '{params['run_id']}' of DAG '{dag_id}' has no task '{task_id}'.")


def runs_that_fit(width: Any) -> int:
    """How many run columns fit in a widget ``width`` pixels wide (label column ~220 px)."""
    try:
        pixels = int(width)
    except (TypeError, ValueError):
        return 25
    return max(5, min(50, (pixels - 220) // 20))


def _form_conf(context: Mapping[str, Any]) -> dict[str, Any]:
    """The run conf typed in the widget's ``conf`` field (``widgetContext.forms.all``)."""
    from orchestrator.plan.confshape import strict_json_loads

    forms = _mapping(_mapping(context.get("forms"), "widgetContext.forms").get("all"), "widgetContext.forms.all")
    text = str(forms.get("conf") or "").strip()
    if not text:
        return {}
    try:
        conf = strict_json_loads(text)
    except ValueError as exc:
        raise ActionError(f"The conf field must be a JSON object: {exc}.") from exc
    if not isinstance(conf, dict):
        raise ActionError(f"The conf field must be a JSON object, got {type(conf).__name__}.")
    return conf


def _message(title: str, text: str) -> str:
    from html import escape

    return f'{STYLE}<div class="sg"><h3>{escape(title)}</h3><p>{escape(text)}</p></div>'


def handle_event(
    event: Mapping[str, Any],
    *,
    view_factory: Callable[[], RunsView],
    endpoint: str,
    region: str,
    actions_endpoint: str | None = None,
    acting: bool = False,
) -> str:
    """Answer one custom-widget call: documentation, or (act, then) render the grid.

    ``endpoint``: the read-only widget function's ARN (run selection calls it);
    ``actions_endpoint``: the widget-actions function's ARN when the stack enables actions
    (the buttons call it; None draws no buttons); ``acting``: this call is the actions
    function, the only one that performs an action; ``view_factory``: builds the ``RunsView``.
    """
    if not isinstance(event, Mapping):
        return _message("Stratus run grid", f"The widget event must be an object, got {type(event).__name__}.")
    if event.get("describe"):
        return DOCS
    try:
        context = widget_context(event)
        params = merged_params(event)
        max_runs = max_runs_of(params, context)
        time_range = time_range_of(context)
    except WidgetInputError as exc:
        return _message("Stratus run grid", str(exc))
    dag_id = params.get("dag_id")
    if not dag_id:
        return _message("Stratus run grid", "Set the widget parameter dag_id to the DAG to show (see the widget's documentation).")
    if not isinstance(dag_id, str) or not _ID_RE.match(dag_id):
        return _message("Stratus run grid", f"The widget parameter dag_id must be a DAG id, got {str(dag_id)[:60]!r}.")
    view = view_factory()
    notice = None
    action = params.get("action")
    if action not in (None, "select"):
        if not acting:
            notice = f"{str(action)[:40]} refused: {ACTIONS_OFF}"
        else:
            try:
                check_action(view, params)
                if action == "trigger":
                    params["conf"] = _form_conf(context)
                notice = view.perform(params)
            except StratusError as exc:
                notice = f"{str(action)[:40]} failed: {exc}"
    try:
        plan, runs, tis = view.grid_data(str(dag_id), limit=max_runs, time_range=time_range)
    except StratusError as exc:
        return _message(f"DAG {dag_id}", str(exc))
    links = WidgetLinks(endpoint, region, view.worker_log_group, actions_endpoint=actions_endpoint)
    selected = params.get("run_id") if action in ("select", "clear") and isinstance(params.get("run_id"), str) else None
    # CloudWatch's dark theme: light text (the state colours stay as they are).
    dark = '<style>.sg{color:#d1d5db}</style>' if context.get("theme") == "dark" else ""
    return dark + render_grid(
        plan,
        runs,
        tis,
        links=links,
        selected_run=str(selected) if selected else None,
        time_range=time_range,
        max_runs=max_runs,
        notice=notice,
    )
