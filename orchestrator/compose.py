"""The composition root: the one place that builds the store, the dispatcher and the engine.

Every Lambda handler (``functions/*/app.py``), the CLI, the local cloud and the UI get their
engine from :func:`build_engine`, so each is wired the same way: the run store, the Lambda
dispatcher (or one passed in), the DAGs folder, the clock and the outlet hook that turns a
task's ``outlets`` into asset events (``triggers.assets.emit_outlet_events``). Nothing else
calls ``Engine(...)``; ``tests/unit/test_layers.py`` keeps it so.

It sits above ``engine`` and ``triggers`` (it wires one into the other) and below ``observe``,
``local``, ``cli`` and ``functions``. Importing it also gives the triggers their engine
factory (``triggers.runs.use_engine_factory``): triggers start runs with engines built here.

Example::

    from orchestrator.compose import build_engine
    engine = build_engine(Clients.from_env(), Resources.from_env())
    engine.start_run("daily_sales", conf={"day": "2026-01-01"})
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from orchestrator.config import Clients, Resources
from orchestrator.engine.conductor import Conductor
from orchestrator.engine.dispatch import Dispatcher, LambdaDispatcher
from orchestrator.engine.engine import Engine, OutletHook
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers import runs as trigger_runs

__all__ = ["build_store", "build_dispatcher", "build_engine", "build_conductor", "outlet_hook"]


def build_store(clients: Clients, resources: Resources) -> RunStore:
    """The run store (DynamoDB table + artefact bucket named by ``resources``)."""
    return RunStore(clients, resources)


def build_dispatcher(clients: Clients, resources: Resources) -> LambdaDispatcher:
    """The AWS dispatcher: async-invokes workers, parks retries in SQS or the scheduler."""
    return LambdaDispatcher(clients, resources)


def outlet_hook(clients: Clients, resources: Resources) -> OutletHook:
    """``Engine.on_outlets``: emit a succeeded task's asset events and start the consumer DAGs."""

    def on_outlets(plan: StepPlan, step: Step, run: dict[str, Any], extras: dict[str, dict[str, Any]],
                   partitions: dict[str, list[str]] | None = None, ti: dict[str, Any] | None = None) -> None:
        from orchestrator.triggers.assets import emit_outlet_events

        emit_outlet_events(clients, resources, step, run, extras, partitions=partitions)

    return on_outlets


def build_engine(clients: Clients, resources: Resources, *, store: RunStore | None = None,
                 dispatcher: Dispatcher | None = None, dags_root: str | None = None,
                 clock: Callable[[], datetime] | None = None, isolated_worker: bool = False) -> Engine:
    """The engine every caller uses: ``store``/``dispatcher`` default to :func:`build_store` and
    :func:`build_dispatcher`; ``dags_root`` to ``resources.dags_root``; ``clock`` to UTC now.

    ``isolated_worker``: the engine of a worker whose role reaches only its DAG (per-DAG
    isolation): outlet events and other DAGs' runs are asked of the trigger function
    (``orchestrator.triggers.requests``) instead of written here.
    """
    engine = Engine(store or build_store(clients, resources), dispatcher or build_dispatcher(clients, resources),
                    dags_root=dags_root, clock=clock)
    if isolated_worker:
        from orchestrator.triggers.requests import CrossDagRequests, IsolatedRunControl, outlet_request_hook

        requests = CrossDagRequests(clients, resources, engine.store)
        engine.on_outlets = outlet_request_hook(requests)
        engine.run_control = IsolatedRunControl(requests)
    else:
        engine.on_outlets = outlet_hook(clients, resources)
    return engine


def build_conductor(clients: Clients, resources: Resources, **engine_options: Any) -> Conductor:
    """The conductor (retries, OnFailure records, the sweeper) over :func:`build_engine`."""
    return Conductor(build_engine(clients, resources, **engine_options))


trigger_runs.use_engine_factory(build_engine)
