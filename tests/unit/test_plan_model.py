from __future__ import annotations

import subprocess
import sys

from orchestrator.plan.model import Schedule, Step, StepPlan


def make_plan(**overrides) -> StepPlan:
    fields = dict(
        dag_id="etl",
        fileloc="etl.py",
        schedule=Schedule(kind="cron", expression="0 6 * * *", preset=None),
        steps=[
            Step(task_id="extract", operator="_PythonDecoratedOperator", module="etl.py", downstream=["load"]),
            Step(task_id="load", operator="_PythonDecoratedOperator", module="etl.py", upstream=["extract"],
                 args={"rows": {"$xcom": "extract", "key": None}}),
        ],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


def test_plan_round_trips_through_json():
    plan = make_plan()
    again = StepPlan.from_json(plan.to_json())
    assert again == plan
    assert again.with_hash().hash == plan.hash


def test_hash_is_stable_across_processes():
    plan = make_plan()
    code = (
        "import sys; sys.path.insert(0, 'tests/unit');"
        "from test_plan_model import make_plan; print(make_plan().hash)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == plan.hash


def test_hash_changes_with_content():
    assert make_plan().hash != make_plan(catchup=True).hash


def test_partitioning_enters_the_hash_only_when_a_dag_has_it():
    # Plans compiled before asset partitions existed keep their hash (runs pin it).
    import json

    from orchestrator.plan.model import Partitioning

    plain = make_plan()
    assert "partitioning" not in json.loads(plain.canonical_json())["schedule"]
    parted = make_plan(schedule=Schedule(kind="none", partitioning=Partitioning(kind="runtime")))
    assert json.loads(parted.canonical_json())["schedule"]["partitioning"]["kind"] == "runtime"
    assert parted.with_hash().hash != make_plan(schedule=Schedule(kind="none")).with_hash().hash
    assert StepPlan.from_json(parted.with_hash().to_json()) == parted.with_hash()
