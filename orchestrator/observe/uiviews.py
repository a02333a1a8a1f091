"""What each `stratus ui` page reads from the cloud, and which renderer draws it.

``UIPages(view, links)`` has one method per route; each returns the page's bytes or raises
``NotFoundError`` / ``StratusError`` (the server answers 404 / 400). Reads stay bounded on big
DAGs: the grid reads ``limit`` runs (paged with ``offset``), the graph, Gantt and task pages
one run's task instances.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from orchestrator.errors import NotFoundError, StratusError
from orchestrator.observe import pages
from orchestrator.observe.grid import LocalLinks, render_grid
from orchestrator.observe.gridmodel import TimeRange
from orchestrator.observe.readmodel import (
    DagSummary,
    asset_events,
    build_assets,
    build_gantt,
    build_graph,
    dag_summary,
    task_instance_view,
)
from orchestrator.observe.service import RunsView
from orchestrator.plan.model import StepPlan

ACTIVE_STATES = ("queued", "running")
REFRESH_S = 2
MAX_LIMIT = 100


def _int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    text = query.get(name)
    if not text:
        return default
    if not text.lstrip("-").isdigit() or len(text) > 9:
        raise StratusError(f"The query parameter {name} must be a whole number, got {text[:20]!r}.")
    return max(lo, min(hi, int(text)))


class UIPages:
    """The pages of `stratus ui` over one ``RunsView`` (see the module doc)."""

    def __init__(self, view: RunsView, links: LocalLinks) -> None:
        self.view = view
        self.links = links

    # ------------------------------------------------------------ helpers

    def _summary(self, dag_id: str, plan: StepPlan | None = None) -> DagSummary:
        plan = plan or self.view.plan(dag_id)
        registry = self.view.store.get_dag(dag_id)
        last = self.view.runs(dag_id, 1)
        return dag_summary(plan, registry, last[0] if last else None)

    def _head(self, dag_id: str, tab: str, run_id: str | None = None) -> tuple[StepPlan, str]:
        plan = self.view.plan(dag_id)
        try:
            summary: DagSummary | None = self._summary(dag_id, plan)
        except NotFoundError:
            summary = None
        return plan, pages.dag_header(plan, summary, tab, self.links, run_id)

    def _run(self, dag_id: str, run_id: str | None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        runs = self.view.runs(dag_id, 50)
        if run_id:
            return self.view.run(run_id, dag_id), runs
        return (runs[0] if runs else None), runs

    # ------------------------------------------------------------ pages

    def dag_list(self, query: dict[str, str]) -> bytes:
        summaries = []
        for item in sorted(self.view.store.list_dags(), key=lambda d: str(d["dag_id"])):
            dag_id = str(item["dag_id"])
            try:
                plan = self.view.plan(dag_id)
            except NotFoundError:
                continue
            last = self.view.runs(dag_id, 1)
            summaries.append(dag_summary(plan, item, last[0] if last else None))
        return pages.dag_list(summaries, self.links, query=query.get("q", ""), notice=query.get("notice"),
                              error=query.get("error"))

    def grid(self, dag_id: str, query: dict[str, str]) -> tuple[bytes, bool]:
        """The grid tab (paged: ``offset`` runs newer than the page are skipped); (page, active)."""
        plan, head = self._head(dag_id, "grid")
        limit = _int(query, "limit", 25, 1, MAX_LIMIT)
        offset = _int(query, "offset", 0, 0, 100_000)
        time_range = None
        if query.get("hours"):
            try:
                hours = float(query["hours"])
            except ValueError as exc:
                raise StratusError(f"hours must be a number, got {query['hours'][:20]!r}.") from exc
            time_range = TimeRange(start=datetime.now(timezone.utc) - timedelta(hours=hours))
        runs = self.view.runs(dag_id, limit + offset + 1)
        if time_range is not None:
            from orchestrator.observe.gridmodel import run_time

            runs = [r for r in runs if time_range.contains(run_time(r))]
        older = len(runs) > limit + offset
        page_runs = runs[offset:offset + limit]
        tis = {str(r["run_id"]): self.view.tis(dag_id, str(r["run_id"])) for r in page_runs}
        banner = f'<div class="error">{pages._e(query["error"])}</div>' if query.get("error") else ""
        grid = render_grid(plan, page_runs, tis, links=self.links, selected_run=query.get("run_id"), time_range=time_range,
                           max_runs=limit, can_mark=True, notice=query.get("notice"))
        pager = '<p class="pager">'
        if older:
            pager += f'<a class="older" href="{pages._e(pages.dag_href(dag_id, limit=limit, offset=offset + limit))}">&larr; older runs</a>'
        if offset:
            pager += f'<a class="newer" href="{pages._e(pages.dag_href(dag_id, limit=limit, offset=max(0, offset - limit)))}">newer runs &rarr;</a>'
        pager += "</p>"
        active = any(r.get("state") in ACTIVE_STATES for r in page_runs)
        body = head + banner + pager + grid + _trigger_with_conf(dag_id, self.links)
        return pages.shell(f"{dag_id} - Stratus", body, refresh_s=REFRESH_S if active else None), active

    def graph(self, dag_id: str, query: dict[str, str]) -> bytes:
        run, runs = self._run(dag_id, query.get("run_id"))
        plan, head = self._head(dag_id, "graph", str(run["run_id"]) if run else None)
        if run is not None:
            plan = self.view.run_plan(run)
        tis = self.view.tis(dag_id, str(run["run_id"])) if run else []
        graph = build_graph(plan, run, tis)
        return pages.shell(f"{dag_id} graph - Stratus", pages.graph_page(head, graph, runs))

    def gantt(self, dag_id: str, query: dict[str, str]) -> bytes:
        run, runs = self._run(dag_id, query.get("run_id"))
        plan, head = self._head(dag_id, "gantt", str(run["run_id"]) if run else None)
        gantt = None
        if run is not None:
            gantt = build_gantt(self.view.run_plan(run), run, self.view.tis(dag_id, str(run["run_id"])))
        return pages.shell(f"{dag_id} Gantt - Stratus", pages.gantt_page(head, gantt, runs, dag_id))

    def code(self, dag_id: str) -> bytes:
        plan, head = self._head(dag_id, "code")
        root = Path(self.view.resources.dags_root or "dags").resolve()
        path = (root / plan.fileloc).resolve()
        source, problem = None, None
        if root not in path.parents:
            problem = f"The DAG file {plan.fileloc!r} is outside the DAG folder {str(root)!r}."
        else:
            try:
                source = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                problem = (f"The DAG file {str(path)!r} cannot be read here ({exc.strerror}); start the UI with "
                           "--dags pointing at the DAG folder.")
        return pages.shell(f"{dag_id} code - Stratus", pages.code_page(head, plan, source, problem))

    def details(self, dag_id: str) -> bytes:
        plan, head = self._head(dag_id, "details")
        return pages.shell(f"{dag_id} - Stratus", pages.details_page(head, plan, self._summary(dag_id, plan)))

    def task_instance(self, dag_id: str, run_id: str, task_id: str, query: dict[str, str]) -> bytes:
        map_index = _int(query, "map_index", -1, -1, 10_000_000)
        run = self.view.run(run_id, dag_id)
        plan = self.view.run_plan(run)
        if task_id not in plan.step_map():
            raise NotFoundError(f"Run '{run_id}' of DAG '{dag_id}' has no task '{task_id}'.")
        item = self.view.ti(dag_id, run_id, task_id, map_index)
        keys = ["return_value", *sorted((item.get("xcom_keys") or {}).keys())]
        xcoms = {}
        for key in keys:
            value = self.view.store.ti_value(item, key)
            if value is not None or key != "return_value":
                xcoms[key] = json.loads(json.dumps(value, default=str))
        try:
            lines = self.view.log_lines(dag_id, run_id, task_id, map_index=map_index)
            log_text = "\n".join(line.render() for line in lines) or "(no log lines)"
        except StratusError as exc:
            log_text = f"(no log: {exc})"
        view = task_instance_view(plan, run_id, item, xcoms, self.view.rendered_loader())
        return pages.task_instance_page(view, log_text, self.links)

    def assets(self) -> bytes:
        plans = []
        for item in self.view.store.list_dags():
            try:
                plans.append(self.view.plan(str(item["dag_id"])))
            except NotFoundError:
                continue
        ddb = self.view.clients.client("dynamodb")
        views = [a.__class__(uri=a.uri, producers=a.producers, consumers=a.consumers,
                             events=tuple(asset_events(ddb, self.view.resources.table, a.uri)))
                 for a in build_assets(plans)]
        return pages.assets_page(views)


def _trigger_with_conf(dag_id: str, links: LocalLinks) -> str:
    e = pages._e
    params = e(json.dumps({"action": "trigger", "dag_id": dag_id}))
    confirm = e(json.dumps(f"Trigger a new run of DAG '{dag_id}' with this config?"))
    return (
        f'<form class="conf" method="post" action="/action" onsubmit="return confirm({confirm})">'
        f'<h4>Trigger with config</h4><input type="hidden" name="params" value="{params}">{links.csrf_field()}'
        '<textarea name="conf" rows="3" cols="60" placeholder=\'{"key": "value"}\'></textarea><br>'
        '<button type="submit" class="btn" data-action="trigger-conf">Trigger</button></form>'
    )
