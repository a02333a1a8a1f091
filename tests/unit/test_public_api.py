from __future__ import annotations

import orchestrator

PUBLIC_API = [
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


def test_public_api_is_pinned():
    assert orchestrator.__all__ == PUBLIC_API


def test_every_public_name_exists():
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name) is not None, name


def test_skip_exception_alias():
    assert orchestrator.SkipException is orchestrator.AirflowSkipException
