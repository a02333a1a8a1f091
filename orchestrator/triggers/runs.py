"""How the triggers start runs: through the engine's one door.

Every trigger (schedule fire, backfill, asset event, API/CLI) builds a
:class:`~orchestrator.triggers.timetable.DagRunInfo` and calls :func:`start_run`, which
passes it to ``orchestrator.engine.start.start_run`` (the checks, the run id and the conf's
shape live there). The run id makes it idempotent: the engine's ``create_run`` is a
conditional put, so a second call with the same id returns the existing run and starts
nothing. Runs beyond ``max_active_runs`` are created ``queued`` and wait for a slot (the
engine promotes them, oldest logical date first, as runs finish).

The triggers build no engine themselves: :func:`make_engine` asks the factory the
composition root (``orchestrator.compose``) installs when it is imported.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from orchestrator.config import Clients, Resources
from orchestrator.engine.start import RUN_TYPES, StartedRun, make_run_id
from orchestrator.engine.start import start_run as door
from orchestrator.errors import StratusError
from orchestrator.plan.model import StepPlan
from orchestrator.triggers.timetable import DagRunInfo, utc

if TYPE_CHECKING:
    from orchestrator.engine.engine import Engine

__all__ = ["RUN_TYPES", "make_run_id", "make_engine", "use_engine_factory", "start_run", "start_asset_run"]

EngineFactory = Callable[[Clients, Resources], "Engine"]
_factory: EngineFactory | None = None


def use_engine_factory(factory: EngineFactory) -> None:
    """Install how the triggers get an engine (``orchestrator.compose`` does, on import)."""
    global _factory
    _factory = factory


def make_engine(clients: Clients, resources: Resources) -> Engine:
    """The engine the triggers start runs with: ``orchestrator.compose.build_engine``."""
    if _factory is None:
        raise StratusError("No engine factory is installed for the triggers: import orchestrator.compose "
                           "(the composition root) before starting runs.")
    return _factory(clients, resources)


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
    partition_key: str | None = None,
    partition_date: datetime | None = None,
    backfill_ordinal: int | None = None,
) -> StartedRun:
    """Create (and, when a slot is free, start) a run through the door; ``(run, created)``.

    ``created`` is False when a run with ``run_id`` already existed (nothing new was started).
    ParamValidationError when ``conf`` is not a JSON object or does not match the DAG's params.
    """
    engine = engine or make_engine(clients, resources)
    return door(engine, plan.dag_id, plan=plan, run_id=run_id, run_type=run_type, logical_date=info.logical_date,
                data_interval=(info.data_interval_start, info.data_interval_end), conf=conf,
                triggering_asset_events=triggering_asset_events or None, partition_key=partition_key,
                partition_date=partition_date, backfill_ordinal=backfill_ordinal)


def start_asset_run(clients: Clients, resources: Resources, dag_item: dict[str, Any],
                    events: dict[str, list[dict[str, Any]]], now: datetime, *,
                    partition_key: str | None = None, partition_date: datetime | None = None) -> dict[str, Any]:
    """Start an ``asset_triggered__<now>`` run of an asset-scheduled DAG with its triggering events
    (``asset_triggered__<now>__<key>`` for a partition: one event may start several partitions at once)."""
    engine = make_engine(clients, resources)
    plan = engine.store.get_plan(dag_item["dag_id"], dag_item["plan_hash"])
    moment = utc(now)
    info = DagRunInfo(moment, moment, moment, moment)
    run_id = make_run_id("asset_triggered", moment)
    if partition_key is not None:
        run_id = f"{run_id}__{partition_run_suffix(partition_key)}"
    run, _ = start_run(clients, resources, plan, run_id=run_id, run_type="asset_triggered", info=info,
                       triggering_asset_events=events, engine=engine, partition_key=partition_key,
                       partition_date=partition_date)
    return run


def partition_run_suffix(key: str) -> str:
    """A partition key as run id text: its safe characters, and a short digest when some were not."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9_.:+\-]", "_", key)[:120]
    return safe if safe == key else f"{safe}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
