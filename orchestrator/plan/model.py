"""The StepPlan: the compiled, versioned, JSON round-trippable form of one DAG.

Everything downstream of authoring reads this document and nothing else about the DAG's
structure: the engine (readiness, retries, mapping), `stratus sync` (registry, schedules),
the dashboard and the grid. The worker still imports the DAG file to find the task's code;
the plan tells it where (``Step.module``) and which task (``Step.task_id``).

Argument values inside ``Step.args``/``Step.op_args``/``Mapping`` are JSON with two tagged forms:

- ``{"$xcom": "<task_id>", "key": "<sub-key or null>"}``: the output of an upstream task
  (``key`` is ``output["key"]`` on the reference, null for the whole return value);
- ``{"$repr": "<repr>"}``: a Python literal that is not JSON (kept for display; the worker
  uses the value from the DAG file itself).

The content hash covers every field but ``hash`` and is stable across processes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PLAN_VERSION = 1

TriggerRuleName = Literal[
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_done_setup_success",
    "all_skipped",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
]

StepKind = Literal["task", "branch", "short_circuit", "empty"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(_Frozen):
    retries: int = 0
    retry_delay_s: float = 300.0
    exponential_backoff: bool = False
    max_retry_delay_s: float | None = None


class LambdaTarget(_Frozen):
    """Where a task runs: the shared worker function, or a named one, with optional sizing."""

    function: str = "WorkerFunction"
    memory_mb: int | None = None
    timeout_s: int | None = None


class Mapping(_Frozen):
    """Dynamic task mapping: ``expand`` (cross product of the lists, in order) or ``expand_kwargs``."""

    kind: Literal["expand", "expand_kwargs"]
    # expand: kwarg name -> a list literal or an ``$xcom`` reference resolving to a list.
    expand: dict[str, Any] = Field(default_factory=dict)
    # expand_kwargs: a list literal of dicts, or an ``$xcom`` reference resolving to one.
    expand_kwargs: Any = None
    # The mapped-over upstream steps (also listed in Step.upstream).
    sources: list[str] = Field(default_factory=list)


class PastDeps(_Frozen):
    """``depends_on_past``: the task waits for its own instances in the previous run (engine.past)."""

    wait_for_downstream: bool = False  # ... and for those of its direct downstream tasks
    ignore_first: bool = False  # ignore_first_depends_on_past: run if the previous run lacks the task


class Step(_Frozen):
    task_id: str
    operator: str  # class name, e.g. "_PythonDecoratedOperator", "EmptyOperator"
    kind: StepKind = "task"
    module: str  # the DAG file, relative to the DAGs root (POSIX separators)
    callable: str | None = None  # qualified name of the python callable, for display
    line: int | None = None  # line in ``module`` where the task is defined
    upstream: list[str] = Field(default_factory=list)  # sorted
    downstream: list[str] = Field(default_factory=list)  # sorted
    trigger_rule: TriggerRuleName = "all_success"
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    execution_timeout_s: float | None = None
    target: LambdaTarget = Field(default_factory=LambdaTarget)
    group: str | None = None  # task group id, e.g. "extract_group" for "extract_group.pull"
    mapping: Mapping | None = None
    op_args: list[Any] = Field(default_factory=list)
    args: dict[str, Any] = Field(default_factory=dict)  # op_kwargs, encoded as above
    multiple_outputs: bool = False
    # short_circuit: skip every downstream task (True, Airflow's default) or only direct ones.
    ignore_downstream_trigger_rules: bool = True
    outlets: list[str] = Field(default_factory=list)  # asset URIs
    # Other DAGs the task acts on: TriggerDagRunOperator's trigger_dag_id, ExternalTaskSensor's
    # external_dag_id. With per-DAG isolation the trigger function starts, clears and reads runs
    # of these only, for this task (orchestrator.triggers.requests).
    other_dags: list[str] = Field(default_factory=list)
    template_fields: list[str] = Field(default_factory=list)
    callbacks: list[str] = Field(default_factory=list)  # e.g. ["on_failure_callback"]
    doc: str | None = None
    # setup/teardown (plan/setup_teardown.py): a work task's relevant setups that are not its direct
    # upstream (all must succeed); decides_run: whether the task's state decides the run's (None:
    # it does when it has no downstream task, the rule without teardowns).
    is_setup: bool = False
    is_teardown: bool = False
    indirect_setups: list[str] = Field(default_factory=list)
    decides_run: bool | None = None
    past: PastDeps | None = None  # depends_on_past / wait_for_downstream (None: the task does not wait)
    # The mapped task group the task lies in (``mapping`` is then the group's): its instance i follows
    # instance i of the tasks of the same group upstream of it (engine.groupmap).
    map_group: str | None = None


class AssetCondition(_Frozen):
    """``uri`` for one asset, or ``all``/``any`` over nested conditions."""

    uri: str | None = None
    all: list[AssetCondition] | None = None
    any: list[AssetCondition] | None = None


class Partitioning(_Frozen):
    """A partitioned schedule (Airflow 3.2+). ``cron``: CronPartitionTimetable (each scheduled run's key is
    its fire time moved ``run_offset`` intervals, formatted with ``key_format`` in the schedule's zone);
    ``runtime``: PartitionedAtRuntime (tasks add keys); ``assets``: PartitionedAssetTimetable (one run per
    mapped key; ``mappers``: asset uri -> mapper spec, ``default_mapper`` for the others, see
    ``authoring.partitions``)."""

    kind: Literal["cron", "runtime", "assets"]
    key_format: str | None = None
    run_offset: int = 0
    default_mapper: dict[str, Any] | None = None
    mappers: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Schedule(_Frozen):
    """``kind``: cron (presets are expanded to cron, except @once), timedelta, once, none, assets."""

    kind: Literal["cron", "timedelta", "once", "none", "assets"]
    expression: str | None = None  # cron text; "@once"; None for none/assets
    interval_s: float | None = None  # timedelta schedules
    preset: str | None = None  # the preset the user wrote, e.g. "@daily"
    timezone: str = "UTC"
    assets: AssetCondition | None = None
    partitioning: Partitioning | None = None


class ParamSpec(_Frozen):
    default: Any = None
    has_default: bool = True
    type: str | list[str] | None = None  # JSON-schema type(s)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    description: str | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class StepPlan(_Frozen):
    version: int = PLAN_VERSION
    dag_id: str
    fileloc: str  # DAG file relative to the DAGs root
    schedule: Schedule
    start_date: str | None = None  # ISO 8601 with offset
    end_date: str | None = None
    catchup: bool = False
    max_active_runs: int = 16
    max_active_tasks: int = 16
    dagrun_timeout_s: float | None = None
    tags: list[str] = Field(default_factory=list)
    doc_md: str | None = None
    description: str | None = None
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    callbacks: list[str] = Field(default_factory=list)  # DAG-level: on_success_callback, ...
    is_paused_upon_creation: bool | None = None
    steps: list[Step]  # in a topological order
    hash: str = ""

    def step(self, task_id: str) -> Step:
        for s in self.steps:
            if s.task_id == task_id:
                return s
        raise KeyError(task_id)

    def step_map(self) -> dict[str, Step]:
        return {s.task_id: s for s in self.steps}

    def canonical_json(self) -> str:
        body = self.model_dump(mode="json", by_alias=True, exclude={"hash"})
        if body["schedule"].get("partitioning") is None:  # plans from before partitions keep their hash
            body["schedule"].pop("partitioning", None)
        for step in body["steps"]:  # ... and those from before mapped task groups
            if step.get("map_group") is None:
                step.pop("map_group", None)
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def with_hash(self) -> StepPlan:
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]
        return self.model_copy(update={"hash": digest})

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> StepPlan:
        return cls.model_validate_json(text)
