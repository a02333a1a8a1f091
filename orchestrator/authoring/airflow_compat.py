"""DAG files written for Apache Airflow load unchanged: ``import airflow...`` served by Stratus.

A DAG file written for Airflow imports ``from airflow.sdk import dag, task`` (Airflow 3) or
``from airflow.decorators import dag, task`` / ``from airflow.operators.python import
PythonOperator`` (Airflow 2). The DAG loader installs :class:`AirflowAliasFinder` at the END of
``sys.meta_path`` (``install()``), so:

- when Apache Airflow itself is installed, Python finds it first and nothing changes;
- otherwise the module paths in :data:`MODULES` are answered with small modules holding
  Stratus's own objects (``airflow.sdk.dag`` *is* ``orchestrator.dag``).

Only the names Stratus implements are served. Anything else (a sensor, a provider's
operator) fails at import with the file and line, and :func:`hint` adds what to do.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Sequence

from orchestrator.authoring import unserved

_SDK: tuple[str, ...] = ("dag", "task", "DAG", "Asset", "AssetAll", "AssetAny", "Param", "TaskGroup", "task_group", "chain",
        "cross_downstream", "get_current_context", "BaseOperator", "TriggerRule", "Variable", "Connection",
        "XComArg", "Context", "CronTriggerTimetable", "Label", "chain_linear", "timezone", "TaskInstanceState",
        "DagRunState", "get_parsing_context", "asset", "AssetAlias", "Metadata", "AssetEvent", "AssetOrTimeSchedule")
# Asset partitions (Airflow 3.2+, orchestrator.authoring.partitions): mappers, windows, wait policies, timetables.
_PARTITION_MAPPERS = ("PartitionMapper", "IdentityMapper", "AllowedKeyMapper", "FixedKeyMapper", "ProductMapper",
                      "ChainMapper", "FanOutMapper", "RollupMapper", "StartOfHourMapper", "StartOfDayMapper",
                      "StartOfWeekMapper", "StartOfMonthMapper", "StartOfQuarterMapper", "StartOfYearMapper")
_PARTITION_WINDOWS = ("Window", "HourWindow", "DayWindow", "WeekWindow", "MonthWindow", "QuarterWindow", "YearWindow",
                      "SegmentWindow")
_PARTITION_POLICIES = ("WaitForAll", "MinimumCount")
_PARTITION_TIMETABLES = ("CronPartitionTimetable", "PartitionedAssetTimetable", "PartitionedAtRuntime")
_PARTITIONS = _PARTITION_MAPPERS + _PARTITION_WINDOWS + _PARTITION_POLICIES + _PARTITION_TIMETABLES
_SDK = _SDK + _PARTITIONS
_TIMEZONE = ("utc", "utcnow", "datetime", "make_aware", "make_naive", "convert_to_utc", "coerce_datetime", "parse")
_STATES = ("State", "TaskInstanceState", "DagRunState")
_EXCEPTIONS = ("AirflowException", "AirflowSkipException", "AirflowFailException")
_PYTHON_OPERATORS = ("PythonOperator", "BranchPythonOperator", "ShortCircuitOperator", "get_current_context")
_SENSOR_BASE = ("BaseSensorOperator", "PokeReturnValue", "poke_mode_only")
_SENSOR_EXCEPTIONS = ("AirflowSensorTimeout", "AirflowRescheduleException")
# Sensor modules as Airflow 3 (standard provider) and Airflow 2 name them -> the sensors they serve.
_SENSOR_MODULES = {
    "python": ("PythonSensor", "PokeReturnValue"),
    "bash": ("BashSensor",),
    "filesystem": ("FileSensor",),
    "time": ("TimeSensor", "TimeSensorAsync"),
    "time_sensor": ("TimeSensor", "TimeSensorAsync"),
    "time_delta": ("TimeDeltaSensor", "TimeDeltaSensorAsync", "WaitSensor"),
    "date_time": ("DateTimeSensor", "DateTimeSensorAsync"),
    "external_task": ("ExternalTaskSensor", "ExternalTaskMarker"),
}

# module path -> names it serves (each name is looked up in :func:`_names`).
MODULES: dict[str, tuple[str, ...]] = {
    "airflow": ("DAG", "Asset", "Dataset"),
    "airflow.sdk": _SDK,
    "airflow.sdk.definitions": (),
    "airflow.sdk.definitions.asset": ("Asset", "AssetAll", "AssetAny", "AssetAlias"),
    "airflow.sdk.definitions.asset.decorators": ("asset",),
    "airflow.sdk.definitions.asset.metadata": ("Metadata",),
    "airflow.sdk.definitions.context": ("Context", "get_current_context"),
    "airflow.sdk.definitions.dag": ("DAG", "dag"),
    "airflow.sdk.definitions.param": ("Param",),
    "airflow.sdk.definitions.taskgroup": ("TaskGroup",),
    "airflow.sdk.bases": (),
    "airflow.sdk.bases.operator": ("BaseOperator", "chain", "chain_linear", "cross_downstream"),
    "airflow.sdk.timezone": _TIMEZONE,
    "airflow.sdk.exceptions": _EXCEPTIONS,
    "airflow.exceptions": _EXCEPTIONS,
    "airflow.decorators": ("dag", "task", "task_group"),
    "airflow.models": ("DAG", "BaseOperator", "Param", "Variable", "Connection"),
    "airflow.models.dag": ("DAG",),
    "airflow.models.param": ("Param",),
    "airflow.models.baseoperator": ("BaseOperator", "chain", "chain_linear", "cross_downstream"),
    "airflow.models.taskinstance": ("TaskInstance",),
    "airflow.models.dagrun": ("DagRun",),
    "airflow.models.variable": ("Variable",),
    "airflow.models.connection": ("Connection",),
    "airflow.models.xcom_arg": ("XComArg",),
    "airflow.operators": (),
    "airflow.operators.python": _PYTHON_OPERATORS,
    "airflow.operators.empty": ("EmptyOperator",),
    "airflow.operators.dummy": ("DummyOperator",),
    "airflow.operators.bash": ("BashOperator",),
    "airflow.operators.trigger_dagrun": ("TriggerDagRunOperator",),
    "airflow.operators.latest_only": ("LatestOnlyOperator",),
    "airflow.operators.branch": ("BaseBranchOperator",),
    "airflow.operators.datetime": ("BranchDateTimeOperator", "target_times_as_dates"),
    "airflow.operators.weekday": ("BranchDayOfWeekOperator",),
    "airflow.utils.weekday": ("WeekDay",),
    "airflow.providers.standard.operators.branch": ("BaseBranchOperator",),
    "airflow.providers.standard.operators.datetime": ("BranchDateTimeOperator", "target_times_as_dates"),
    "airflow.providers.standard.operators.weekday": ("BranchDayOfWeekOperator",),
    "airflow.providers.standard.utils": (),
    "airflow.providers.standard.utils.weekday": ("WeekDay",),
    "airflow.providers.standard.operators.latest_only": ("LatestOnlyOperator",),
    "airflow.providers": (),
    "airflow.providers.standard": (),
    "airflow.providers.standard.operators": (),
    "airflow.providers.standard.operators.python": _PYTHON_OPERATORS,
    "airflow.providers.standard.operators.empty": ("EmptyOperator",),
    "airflow.providers.standard.operators.bash": ("BashOperator",),
    "airflow.providers.standard.operators.trigger_dagrun": ("TriggerDagRunOperator",),
    "airflow.task": (),
    "airflow.task.trigger_rule": ("TriggerRule",),
    "airflow.utils": (),
    "airflow.utils.trigger_rule": ("TriggerRule",),
    "airflow.utils.task_group": ("TaskGroup",),
    "airflow.utils.helpers": ("chain", "cross_downstream"),
    "airflow.utils.edgemodifier": ("Label",),
    "airflow.utils.context": ("Context", "get_current_context"),
    "airflow.utils.dates": ("days_ago",),
    "airflow.utils.state": _STATES,
    "airflow.utils.timezone": _TIMEZONE,
    "airflow.utils.dag_parsing_context": ("get_parsing_context",),
    "airflow.datasets": ("Dataset", "DatasetAll", "DatasetAny"),
    # apache-airflow-providers-common-compat: provider-style DAGs import the SDK names from here.
    "airflow.providers.common": (),
    "airflow.providers.common.compat": (),
    "airflow.providers.common.compat.sdk": _SDK + _EXCEPTIONS,
    "airflow.providers.common.compat.standard": (),
    "airflow.providers.common.compat.standard.operators": ("BaseOperator", "PythonOperator",
                                                           "ShortCircuitOperator", "get_current_context"),
    "airflow.timetables": (),
    "airflow.timetables.trigger": ("CronTriggerTimetable", "CronPartitionTimetable"),
    "airflow.timetables.assets": ("AssetOrTimeSchedule", "PartitionedAssetTimetable", "PartitionedAtRuntime"),
    "airflow.timetables.simple": ("PartitionedAssetTimetable", "PartitionedAtRuntime"),
    "airflow.sdk.definitions.timetables": (),
    "airflow.sdk.definitions.timetables.trigger": ("CronTriggerTimetable", "CronPartitionTimetable"),
    "airflow.sdk.definitions.timetables.assets": ("AssetOrTimeSchedule", "PartitionedAssetTimetable",
                                                  "PartitionedAtRuntime"),
    **{f"{root}partition_mappers{sub}": names for root in ("airflow.", "airflow.sdk.definitions.")
       for sub, names in (("", _PARTITION_MAPPERS + _PARTITION_WINDOWS + _PARTITION_POLICIES),
                          (".base", ("PartitionMapper", "RollupMapper")), (".identity", ("IdentityMapper",)),
                          (".allowed_key", ("AllowedKeyMapper",)), (".fixed_key", ("FixedKeyMapper",)),
                          (".product", ("ProductMapper",)), (".chain", ("ChainMapper",)),
                          (".temporal", _PARTITION_MAPPERS[8:] + ("FanOutMapper",)),
                          (".window", _PARTITION_WINDOWS), (".wait_policy", _PARTITION_POLICIES))},
    "airflow.timetables.datasets": ("DatasetOrTimeSchedule",),
    "airflow.sdk.bases.sensor": _SENSOR_BASE,
    "airflow.sensors": (),
    "airflow.sensors.base": _SENSOR_BASE,
    "airflow.providers.standard.sensors": (),
    **{f"airflow.providers.standard.sensors.{m}": names for m, names in _SENSOR_MODULES.items()
       if m != "time_sensor"},
    **{f"airflow.sensors.{m}": names for m, names in _SENSOR_MODULES.items() if m != "time"},
}
MODULES["airflow.sdk"] = _SDK + _SENSOR_BASE[:2] + ("setup", "teardown")
MODULES["airflow.decorators"] = MODULES["airflow.decorators"] + ("setup", "teardown")
for _exceptions in ("airflow.sdk.exceptions", "airflow.exceptions"):
    MODULES[_exceptions] = _EXCEPTIONS + _SENSOR_EXCEPTIONS


def _names() -> dict[str, Any]:
    import orchestrator
    from orchestrator.authoring.context import Context
    from orchestrator.authoring.exceptions import AirflowException

    out = {name: getattr(orchestrator, name) for name in orchestrator.__all__}
    from orchestrator.authoring import state, timezone
    from orchestrator.authoring.dependencies import chain_linear
    from orchestrator.authoring.latest_only import LatestOnlyOperator

    out.update(Context=Context, AirflowException=AirflowException, Dataset=orchestrator.Asset,
               DatasetAll=orchestrator.AssetAll, DatasetAny=orchestrator.AssetAny,
               DummyOperator=orchestrator.EmptyOperator, days_ago=days_ago, chain_linear=chain_linear,
               timezone=timezone, get_parsing_context=get_parsing_context, LatestOnlyOperator=LatestOnlyOperator)
    from orchestrator.authoring import assets as asset_names, branch_time
    from orchestrator.authoring.asset_decorator import asset

    from orchestrator.authoring import partitions, timetables
    from orchestrator.authoring.timetables import AssetOrTimeSchedule

    out.update(AssetOrTimeSchedule=AssetOrTimeSchedule, DatasetOrTimeSchedule=AssetOrTimeSchedule)
    out.update({name: getattr(timetables, name) for name in _PARTITION_TIMETABLES})
    out.update({name: getattr(partitions, name) for name in _PARTITION_MAPPERS + _PARTITION_WINDOWS
                + _PARTITION_POLICIES})
    out.update(asset=asset, AssetAlias=asset_names.AssetAlias, Metadata=asset_names.Metadata,
               AssetEvent=asset_names.AssetEvent)

    out.update({name: getattr(branch_time, name) for name in ("BaseBranchOperator", "BranchDateTimeOperator",
                                                                "BranchDayOfWeekOperator", "WeekDay",
                                                                "target_times_as_dates")})
    out.update({name: getattr(timezone, name) for name in _TIMEZONE})
    from orchestrator.authoring import exceptions, sensors
    from orchestrator.authoring.setup_teardown import setup, teardown

    out.update(setup=setup, teardown=teardown)

    out.update({name: getattr(sensors, name) for name in sensors.__all__})
    out.update({name: getattr(exceptions, name) for name in _SENSOR_EXCEPTIONS})
    out.update({name: getattr(state, name) for name in _STATES})
    return out


# Names whose objects live in the engine: imported only when a DAG file asks for them (type hints).
_LAZY = {"TaskInstance": ("orchestrator.engine.runtime", "RuntimeTaskInstance"),
         "DagRun": ("orchestrator.engine.runtime", "RuntimeDagRun")}


class ParsingContext(NamedTuple):
    """What ``get_parsing_context()`` returns: both None, i.e. "parse every DAG" (always safe)."""

    dag_id: str | None
    task_id: str | None


def get_parsing_context() -> ParsingContext:
    """Airflow's parsing-time hint for DAG factories; Stratus always loads whole files."""
    return ParsingContext(None, None)


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    """Airflow 2's ``days_ago``: midnight UTC (or the given time) ``n`` days before today."""
    today = datetime.now(timezone.utc).replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - timedelta(days=n)


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, f"Stratus's stand-in for Airflow's {spec.name} (see orchestrator."
                                             "authoring.airflow_compat).")
        names = _names()
        for name in MODULES.get(spec.name, ()):
            if name in _LAZY:
                import importlib

                home, attr = _LAZY[name]
                setattr(module, name, getattr(importlib.import_module(home), attr))
            else:
                setattr(module, name, names[name])
        module.__all__ = list(MODULES.get(spec.name, ()))  # type: ignore[attr-defined]
        module.__path__ = []  # type: ignore[attr-defined] # every alias may have submodules
        # Every other name imports too: using it refuses only the DAG that uses it (see unserved.py).
        module.__getattr__ = unserved.module_getattr(spec.name)  # type: ignore[attr-defined, method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class AirflowAliasFinder(importlib.abc.MetaPathFinder):
    """Answers every ``airflow`` module path (only reached when Airflow is not installed).

    The paths in :data:`MODULES` hold the names Stratus serves; any other path or name imports an
    unserved stand-in (``orchestrator.authoring.unserved``) that refuses the DAG using it.
    """

    _loader = _AliasLoader()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self._loader, is_package=True)


# Airflow names Stratus does not serve on purpose or yet, and what to write instead.
_UNSUPPORTED_NAMES = {
    "PythonVirtualenvOperator": "package the dependencies with the worker function and use PythonOperator or @task",
    "ExternalPythonOperator": "package the dependencies with the worker function and use PythonOperator or @task",
}

_LOCK = threading.Lock()


def install() -> None:
    """Add the finder at the end of ``sys.meta_path`` once (a real Airflow install still wins)."""
    with _LOCK:
        if not any(isinstance(f, AirflowAliasFinder) for f in sys.meta_path):
            sys.meta_path.append(AirflowAliasFinder())


def hint(exc: BaseException) -> str | None:
    """What to do when a DAG file's ``airflow`` import is not one Stratus serves (else None)."""
    name = getattr(exc, "name", None) or ""
    if not isinstance(exc, ImportError) or not (name == "airflow" or name.startswith("airflow.")):
        return None
    missing = getattr(exc, "msg", "") or ""
    advice = next((f"{unsupported} is not supported by Stratus: {why}. "
                   for unsupported, why in _UNSUPPORTED_NAMES.items()
                   if f"cannot import name '{unsupported}'" in missing), "")
    served = sorted(MODULES.get(name, ()))
    if served:
        return (f"{advice}Stratus serves {name} with: {', '.join(served)}. Use one of these, or import the "
                "same names from `orchestrator`.")
    return (f"Stratus does not provide the Airflow module '{name}' (no providers, no SQL operators). "
            "Write the step as a @task (TaskFlow) function, or subclass orchestrator.BaseOperator; "
            "`from airflow.sdk import dag, task` and the other airflow.sdk names work.")
