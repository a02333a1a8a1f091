"""How the triggers start runs: one place that calls the engine.

Every trigger (schedule fire, backfill, asset event, API/CLI) builds a run id and a
:class:`~orchestrator.triggers.timetable.DagRunInfo` and calls :func:`start_run`. The run id
makes it idempotent: the engine's ``create_run`` is a conditional put, so a second call with
the same id returns the existing run and starts nothing. Runs beyond ``max_active_runs`` are
created ``queued`` and wait for a slot (the engine promotes them, oldest logical date first,
as runs finish).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.plan.model import StepPlan
from orchestrator.triggers.timetable import DagRunInfo

RUN_TYPES = ("manual", "scheduled", "backfill", "asset_triggered")


def make_run_id(run_type: str, moment: datetime) -> str:
    """Airflow's run id form: ``{run_type}__{iso timestamp}``."""
    return f"{run_type}__{moment.isoformat()}"


def make_engine(clients: Clients, resources: Resources) -> Any:
    """The engine the triggers start runs with (Lambda dispatcher; outlets wired to assets)."""
    from orchestrator.engine.dispatch import LambdaDispatcher
    from orchestrator.engine.engine import Engine
    from orchestrator.store import RunStore

    engine = Engine(RunStore(clients, resources), LambdaDispatcher(clients, resources))
    engine.on_outlets = outlets_hook(clients, resources)
    return engine


def outlets_hook(clients: Clients, resources: Resources) -> Any:
    """``engine.on_outlets``: emit asset events for a task that succeeded with ``outlets``.

    The worker sets ``engine.on_outlets = outlets_hook(clients, resources)`` so consumer DAGs
    start when a producer task finishes.
    """

    def on_outlets(plan: StepPlan, step: Any, run: dict[str, Any],
                   extras: dict[str, dict[str, Any]] | None = None) -> None:
        from orchestrator.triggers.assets import emit_outlet_events

        emit_outlet_events(clients, resources, step, run, extras)

    return on_outlets


def start_run(
    clients: Clients,
    resources: Resources,
    plan: StepPlan,
    *,
    run_id: str,
    run_type: str,
    info: DagRunInfo,
    conf: dict[str, Any] | None = None,
    triggering_asset_events: dict[str, list[dict[str, Any]]] | None = None,
    engine: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Create (and, when a slot is free, start) a run through the engine; ``(run, created)``.

    ``created`` is False when a run with ``run_id`` already existed (nothing was started).
    ParamValidationError (from the engine) when ``conf`` does not match the DAG's params.
    """
    from orchestrator.errors import NotFoundError

    engine = engine or make_engine(clients, resources)
    try:
        existing = engine.store.get_run(plan.dag_id, run_id)
    except NotFoundError:
        existing = None
    if existing is not None:
        return existing, False
    run = engine.start_run(
        plan.dag_id,
        plan=plan,
        run_id=run_id,
        run_type=run_type,
        logical_date=info.logical_date,
        data_interval=(info.data_interval_start, info.data_interval_end),
        conf=conf or {},
        triggering_asset_events=triggering_asset_events or None,
    )
    return run, True
