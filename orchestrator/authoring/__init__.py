"""The authoring API: what DAG files import (re-exported by ``orchestrator``)."""

from __future__ import annotations

from orchestrator.authoring.assets import Asset, AssetAll, AssetAny
from orchestrator.authoring.baseoperator import BaseOperator
from orchestrator.authoring.bash import BashOperator
from orchestrator.authoring.context import get_current_context, set_current_context
from orchestrator.authoring.dag import DAG, dag
from orchestrator.authoring.decorators import task
from orchestrator.authoring.dependencies import Label, chain, cross_downstream
from orchestrator.authoring.exceptions import AirflowFailException, AirflowSkipException, SkipException
from orchestrator.authoring.operators import (
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from orchestrator.authoring.params import Param
from orchestrator.authoring.taskgroup import TaskGroup, task_group
from orchestrator.authoring.timetables import CronTriggerTimetable
from orchestrator.authoring.trigger_dagrun import TriggerDagRunOperator
from orchestrator.authoring.trigger_rule import TriggerRule
from orchestrator.authoring.xcom_arg import XComArg

__all__ = [
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "AssetAll",
    "AssetAny",
    "BaseOperator",
    "BashOperator",
    "BranchPythonOperator",
    "CronTriggerTimetable",
    "DAG",
    "EmptyOperator",
    "Label",
    "Param",
    "PythonOperator",
    "ShortCircuitOperator",
    "SkipException",
    "TaskGroup",
    "TriggerDagRunOperator",
    "TriggerRule",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "set_current_context",
    "task",
    "task_group",
]
