"""Synthetic plans, runs and task instances shaped like docs/internals.md items."""

from __future__ import annotations

from typing import Any

from orchestrator.plan.model import Mapping, Schedule, Step, StepPlan


def make_plan(dag_id: str = "daily_sales", **overrides: Any) -> StepPlan:
    steps = [
        Step(task_id="extract", operator="_PythonDecoratedOperator", module="daily_sales.py", downstream=["clean"]),
        Step(
            task_id="clean",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            upstream=["extract"],
            downstream=["load_group.load"],
            mapping=Mapping(kind="expand", expand={"row": {"$xcom": "extract", "key": None}}, sources=["extract"]),
        ),
        Step(
            task_id="load_group.load",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            group="load_group",
            upstream=["clean"],
            downstream=["load_group.report"],
        ),
        Step(
            task_id="load_group.report",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            group="load_group",
            upstream=["load_group.load"],
        ),
    ]
    values: dict[str, Any] = {
        "dag_id": dag_id,
        "fileloc": f"{dag_id}.py",
        "schedule": Schedule(kind="cron", expression="0 6 * * *"),
        "steps": steps,
    }
    values.update(overrides)
    return StepPlan(**values).with_hash()


def make_run(run_id: str = "manual__2026-01-01T06:00:00+00:00", dag_id: str = "daily_sales", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"RUN#{dag_id}#{run_id}",
        "sk": "RUN",
        "dag_id": dag_id,
        "run_id": run_id,
        "state": "success",
        "run_type": "manual",
        "plan_hash": "abc",
        "logical_date": "2026-01-01T06:00:00+00:00",
        "queued_at": "2026-01-01T06:00:00+00:00",
        "start_date": "2026-01-01T06:00:01+00:00",
        "end_date": "2026-01-01T06:01:01+00:00",
        "conf": "{}",
    }
    item.update(overrides)
    return item


def make_ti(task_id: str, run_id: str = "manual__2026-01-01T06:00:00+00:00", dag_id: str = "daily_sales", **overrides: Any) -> dict[str, Any]:
    map_index = overrides.get("map_index", -1)
    item: dict[str, Any] = {
        "pk": f"RUN#{dag_id}#{run_id}",
        "sk": f"TI#{task_id}#{int(map_index):06d}",
        "task_id": task_id,
        "map_index": map_index,
        "state": "success",
        "try_number": 1,
        "max_tries": 0,
        "queued_at": "2026-01-01T06:00:01+00:00",
        "start_date": "2026-01-01T06:00:02+00:00",
        "end_date": "2026-01-01T06:00:05+00:00",
        "duration": 3.0,
        "log_stream": "2026/01/01/[$LATEST]0123456789abcdef",
        "history": [],
    }
    item.update(overrides)
    return item


class FakeStore:
    """In-memory stand-in for RunStore's read methods (unit tests only)."""

    def __init__(self, plans: list[StepPlan], runs: list[dict[str, Any]], tis: dict[str, list[dict[str, Any]]]) -> None:
        self.plans = {p.dag_id: p for p in plans}
        self.run_items = runs
        self.ti_items = tis

    def list_dags(self) -> list[dict[str, Any]]:
        return [{"dag_id": d, "plan_hash": p.hash} for d, p in self.plans.items()]

    def get_current_plan(self, dag_id: str) -> StepPlan:
        from orchestrator.errors import NotFoundError

        if dag_id not in self.plans:
            raise NotFoundError(f"DAG '{dag_id}' is not registered; run `stratus sync` (or check the DAG id).")
        return self.plans[dag_id]

    def get_plan(self, dag_id: str, plan_hash: str) -> StepPlan:
        return self.get_current_plan(dag_id)

    def list_runs(self, dag_id: str, limit: int = 25) -> list[dict[str, Any]]:
        runs = [r for r in self.run_items if r["dag_id"] == dag_id]
        return sorted(runs, key=lambda r: r["logical_date"], reverse=True)[:limit]

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        from orchestrator.errors import NotFoundError

        found = [r for r in self.run_items if r["dag_id"] == dag_id and r["run_id"] == run_id]
        if not found:
            raise NotFoundError(f"Run '{run_id}' of DAG '{dag_id}' does not exist.")
        return found[0]

    def find_run(self, run_id: str) -> dict[str, Any]:
        return next(r for r in self.run_items if r["run_id"] == run_id)

    def list_tis(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.ti_items.get(run_id, []))

    def get_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        return next(t for t in self.ti_items[run_id] if t["task_id"] == task_id and t.get("map_index", -1) == map_index)


class FakeEngine:
    """Records the engine calls the viewers make."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def clear(self, *args: Any, **kwargs: Any) -> list[tuple[str, int]]:
        self.calls.append(("clear", args, kwargs))
        return [(args[2][0] if len(args) > 2 and args[2] else "extract", -1)]

    def mark(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("mark", args, kwargs))

    def start_run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start_run", args, kwargs))
        return {"run_id": "manual__new", "dag_id": args[0]}


class UIClient:
    """A browser-like client of `stratus ui`: keeps the session cookie and posts with the page's CSRF token."""

    def __init__(self, base: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token = ""

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        import re
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
        if found:
            self.token = found.group(1)
        return status, text

    def post(self, path: str, form: dict[str, str], *, token: bool = True,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        import urllib.error
        import urllib.parse
        import urllib.request

        if token and not self.token:
            self.get("/")
        data = dict(form)
        if token:
            data["csrf"] = self.token
        request = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(data).encode(),
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
