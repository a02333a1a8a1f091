"""The CloudWatch custom widget: one event in, the run grid's HTML out.

The dashboard calls the widget function with ``{"widgetContext": {...}}`` plus the widget's
params at the top level (``dag_id``). A ``cwdb-action`` button calls it again with its own
JSON params (``{"action": "clear", ...}``), also at the top level, and shows the returned
HTML in place of the widget: so an action runs, then the grid is drawn again with a notice.
``{"describe": true}`` returns the widget's documentation (markdown), AWS's convention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.errors import StratusError
from orchestrator.observe.grid import STYLE, WidgetLinks, render_grid
from orchestrator.observe.gridmodel import TimeRange
from orchestrator.observe.service import ActionError, RunsView

# Actions a dashboard button may ask for (marking by hand stays in the CLI and the local UI).
WIDGET_ACTIONS = ("clear", "trigger")

DOCS = """## Stratus run grid

Draws the runs of one Stratus DAG like Airflow's grid: a column per run (oldest left, bar height
is the run's duration), a row per task (task groups first, mapped tasks summarised), each cell
coloured by state. The newest run, or the one whose bar you click, is listed below the grid with
every try, its duration, its error and a link to its CloudWatch log stream.

Buttons (each asks for confirmation): **Trigger run** (with the JSON typed in the conf field as
the run's conf), **Retry**/**Clear** a task, **Clear failed**.

The time range of the dashboard selects the runs shown.

### Widget parameters
Param | Description
---|---
**dag_id** | The DAG to show (required)
**max_runs** | Most runs shown (default: as many as fit, at most 50)

### Example parameters
``` yaml
dag_id: daily_sales
```
"""


def merged_params(event: Mapping[str, Any]) -> dict[str, Any]:
    """The widget's params with an action's params (top-level keys) over them."""
    context = event.get("widgetContext") or {}
    params = dict(context.get("params") or {})
    params.update({k: v for k, v in event.items() if k not in ("widgetContext", "describe")})
    return params


def time_range_of(context: Mapping[str, Any]) -> TimeRange | None:
    """The dashboard's time range (its zoom when the user zoomed in), as a ``TimeRange``."""
    rng = context.get("timeRange") or {}
    zoom = rng.get("zoom") or {}
    start = zoom.get("start", rng.get("start"))
    end = zoom.get("end", rng.get("end"))
    if start is None and end is None:
        return None
    return TimeRange.from_millis(start, end)


def runs_that_fit(width: Any) -> int:
    """How many run columns fit in a widget ``width`` pixels wide (label column ~220 px)."""
    try:
        pixels = int(width)
    except (TypeError, ValueError):
        return 25
    return max(5, min(50, (pixels - 220) // 20))


def _form_conf(context: Mapping[str, Any]) -> dict[str, Any]:
    """The run conf typed in the widget's ``conf`` field (``widgetContext.forms.all``)."""
    import json

    text = str(((context.get("forms") or {}).get("all") or {}).get("conf") or "").strip()
    if not text:
        return {}
    try:
        conf = json.loads(text)
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
) -> str:
    """Answer one custom-widget call: documentation, or (act, then) render the grid.

    ``endpoint``: this function's ARN (the ``cwdb-action`` endpoint);
    ``view_factory``: builds the ``RunsView`` (created only when needed).
    """
    if event.get("describe"):
        return DOCS
    context = event.get("widgetContext") or {}
    params = merged_params(event)
    dag_id = params.get("dag_id")
    if not dag_id:
        return _message("Stratus run grid", "Set the widget parameter dag_id to the DAG to show (see the widget's documentation).")
    view = view_factory()
    notice = None
    action = params.get("action")
    if action in WIDGET_ACTIONS:
        try:
            if action == "trigger":
                params["conf"] = _form_conf(context)
            notice = view.perform(params)
        except StratusError as exc:
            notice = f"{action} failed: {exc}"
    elif action not in (None, "select"):
        notice = f"Unknown action {action!r}: the widget accepts {', '.join(WIDGET_ACTIONS)}."
    max_runs = int(params.get("max_runs") or runs_that_fit(context.get("width")))
    try:
        time_range = time_range_of(context)
        plan, runs, tis = view.grid_data(str(dag_id), limit=max_runs, time_range=time_range)
    except StratusError as exc:
        return _message(f"DAG {dag_id}", str(exc))
    links = WidgetLinks(endpoint, region, view.worker_log_group)
    selected = params.get("run_id") if action in ("select", "clear") else None
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
