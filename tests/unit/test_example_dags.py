"""The example DAGs load, compile, and their tasks run with a fake task instance."""

from __future__ import annotations

import os

import pytest

from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.loader import DagBag

DAGS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "dags"))
EXAMPLES = {"etl_taskflow", "fanout_map", "map_1000", "branching", "grouped", "daily_catchup", "s3_arrival",
            "flaky_retry"}


@pytest.fixture(scope="module")
def bag():
    return DagBag(DAGS)


class FakeTI:
    def __init__(self, outputs, try_number=1):
        self.outputs = outputs
        self.try_number = try_number

    def xcom_pull(self, task_ids, key="return_value"):
        return self.outputs[task_ids]


def test_examples_load_and_compile(bag):
    assert bag.import_errors == {}
    assert EXAMPLES <= set(bag.dags)
    for dag_id in EXAMPLES:
        plan = compile_dag(bag.dags[dag_id], bag.dags_root)
        assert plan.fileloc == f"{dag_id}.py"
        assert bag.dags[dag_id].doc_md, f"{dag_id} needs a docstring"


def test_etl_taskflow_runs_end_to_end(bag):
    d = bag.get_dag("etl_taskflow")
    outputs = {}
    for step in compile_dag(d).steps:
        outputs[step.task_id] = d.task_dict[step.task_id].run({"ti": FakeTI(outputs)})
    assert outputs["transform"] == {"FR": 42.75, "DE": 7.0}
    assert outputs["load"] == 2


def test_fanout_map_mapped_instances(bag):
    d = bag.get_dag("fanout_map")
    ti = FakeTI({})
    ti.outputs["numbers"] = d.task_dict["numbers"].run({"ti": ti})
    ti.outputs["square"] = [d.task_dict["square"].run({"ti": ti}, {"n": n}) for n in ti.outputs["numbers"]]
    ti.outputs["scale"] = [d.task_dict["scale"].run({"ti": ti}, {"n": n}) for n in ti.outputs["square"]]
    assert d.task_dict["total"].run({"ti": ti}) == 550


def test_map_1000_is_a_1000_way_map(bag):
    d = bag.get_dag("map_1000")
    items = d.task_dict["make_items"].run({"ti": FakeTI({})})
    assert len(items) == 1000
    assert compile_dag(d).step("work").mapping.expand == {"item": {"$xcom": "make_items", "key": None}}


def test_branching_routes_by_param(bag):
    d = bag.get_dag("branching")
    route = d.task_dict["route"]
    assert route.run({"ti": FakeTI({}), "params": {"amount": 120}}) == "small_order"
    assert route.run({"ti": FakeTI({}), "params": {"amount": 5000}}) == "large_order"
    assert compile_dag(d).step("done").trigger_rule == "none_failed_min_one_success"


def test_grouped_ids(bag):
    ids = [s.task_id for s in compile_dag(bag.get_dag("grouped")).steps]
    assert {"extract.pull_a", "extract.pull_b", "extract.combine", "report.summary", "report.notify"} <= set(ids)


def test_daily_catchup_schedule(bag):
    plan = compile_dag(bag.get_dag("daily_catchup"))
    assert plan.catchup is True and plan.schedule.preset == "@daily"
    d = bag.get_dag("daily_catchup")
    assert d.task_dict["announce"].run({"ti": FakeTI({}), "ds": "2026-01-05"}) == "2026-01-05"


def test_s3_arrival_asset_schedule(bag):
    plan = compile_dag(bag.get_dag("s3_arrival"))
    assert plan.schedule.kind == "assets"
    assert plan.schedule.assets.all[0].uri == "s3://stratus-landing/incoming/"
    assert plan.step("publish").outlets == ["s3://stratus-landing/processed/"]
    events = {"s3://stratus-landing/incoming/": [{"extra": {"key": "incoming/a.csv"}}]}
    lister = bag.get_dag("s3_arrival").task_dict["list_new_objects"]
    assert lister.run({"ti": FakeTI({}), "triggering_asset_events": events}) == ["incoming/a.csv"]


def test_flaky_retry_fails_then_succeeds(bag):
    d = bag.get_dag("flaky_retry")
    flaky = d.task_dict["flaky"]
    assert flaky.retries == 1 and flaky.retry_delay.total_seconds() == 1
    with pytest.raises(RuntimeError, match="transient failure on try 1"):
        flaky.run({"ti": FakeTI({}, try_number=1)})
    assert flaky.run({"ti": FakeTI({}, try_number=2)}) == "succeeded on try 2"
