"""Stratus: Airflow-style Python DAGs on AWS serverless (Lambda per task, DynamoDB state).

The names DAG files use, with Airflow 3 (``airflow.sdk``) semantics::

    from orchestrator import dag, task, Asset
"""

from __future__ import annotations

from orchestrator.authoring import (
    DAG,
    AirflowFailException,
    AirflowSkipException,
    Asset,
    AssetAll,
    AssetAny,
    BaseOperator,
    BashOperator,
    BranchPythonOperator,
    CronTriggerTimetable,
    EmptyOperator,
    Label,
    Param,
    PythonOperator,
    ShortCircuitOperator,
    SkipException,
    TaskGroup,
    TriggerDagRunOperator,
    TriggerRule,
    XComArg,
    chain,
    cross_downstream,
    dag,
    get_current_context,
    set_current_context,
    task,
    task_group,
)

from orchestrator.secrets import Connection, Variable

__version__ = "0.1.0"

__all__ = [
    "DAG",
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "AssetAll",
    "AssetAny",
    "BaseOperator",
    "BashOperator",
    "BranchPythonOperator",
    "Connection",
    "CronTriggerTimetable",
    "EmptyOperator",
    "Label",
    "Param",
    "PythonOperator",
    "ShortCircuitOperator",
    "SkipException",
    "TaskGroup",
    "TriggerDagRunOperator",
    "TriggerRule",
    "Variable",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "set_current_context",
    "task",
    "task_group",
]
