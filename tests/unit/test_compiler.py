from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from orchestrator import (
    DAG,
    Asset,
    BaseOperator,
    EmptyOperator,
    Param,
    PythonOperator,
    TaskGroup,
    TriggerRule,
    task,
)
from orchestrator.plan.compiler import compile_dag, encode, relative_fileloc, stable_repr
from orchestrator.plan.model import StepPlan


class Upload(BaseOperator):
    template_fields = ("bucket", "key")

    def __init__(self, *, bucket, key, **kwargs):
        super().__init__(**kwargs)
        self.bucket, self.key = bucket, key

    def execute(self, context):
        return None


def build():
    @task
    def extract() -> dict:
        return {"rows": [1]}

    @task
    def double(x, factor):
        return x * factor

    @task.branch
    def pick():
        return "g.a"

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def gate():
        return True

    with DAG("plan_me", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
             catchup=True, max_active_runs=2, dagrun_timeout=timedelta(hours=1), tags=["t"],
             params={"n": Param(2, type="integer")}, on_failure_callback=print,
             default_args={"retries": 2, "retry_delay": timedelta(seconds=30)}) as d:
        e = extract()
        doubled = double.partial(factor=e["rows"]).expand(x=[1, 2, 3])
        with TaskGroup("g"):
            a = EmptyOperator(task_id="a", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
            up = Upload(task_id="upload", bucket="b-1", key="{{ ds }}/x", outlets=[Asset("s3://b-1/out/")],
                         execution_timeout=60, lambda_memory=2048, lambda_timeout=120, lambda_function="Big",
                         retry_exponential_backoff=True, max_retry_delay=600)
        pick() >> a >> up
        doubled >> gate() >> up
    return d


def test_steps_and_fields():
    plan = compile_dag(build())
    ids = [s.task_id for s in plan.steps]
    pos = {t: i for i, t in enumerate(ids)}
    for s in plan.steps:
        for u in s.upstream:
            assert pos[u] < pos[s.task_id]
    assert plan.dag_id == "plan_me"
    assert plan.fileloc == "test_compiler.py"
    assert plan.schedule.expression == "0 0 * * *" and plan.schedule.timezone == "Europe/Paris"
    assert plan.start_date == "2026-01-01T00:00:00+01:00"
    assert plan.catchup is True and plan.max_active_runs == 2 and plan.dagrun_timeout_s == 3600
    assert plan.params["n"].default == 2 and plan.callbacks == ["on_failure_callback"]
    double = plan.step("double")
    assert double.mapping.kind == "expand"
    assert double.mapping.expand == {"x": [1, 2, 3]}
    assert double.args == {"factor": {"$xcom": "extract", "key": "rows"}}
    assert double.upstream == ["extract"]
    assert double.retry.retries == 2 and double.retry.retry_delay_s == 30
    assert plan.step("extract").multiple_outputs is True
    assert plan.step("pick").kind == "branch"
    gate = plan.step("gate")
    assert gate.kind == "short_circuit" and gate.ignore_downstream_trigger_rules is False
    a = plan.step("g.a")
    assert (a.kind, a.group, a.trigger_rule, a.operator) == ("empty", "g", "none_failed_min_one_success", "EmptyOperator")
    upload = plan.step("g.upload")
    assert upload.args == {"bucket": "b-1", "key": "{{ ds }}/x"}
    assert upload.outlets == ["s3://b-1/out/"]
    assert upload.execution_timeout_s == 60
    assert upload.target.model_dump() == {"function": "Big", "memory_mb": 2048, "timeout_s": 120}
    assert upload.retry.exponential_backoff is True and upload.retry.max_retry_delay_s == 600
    assert upload.downstream == [] and upload.upstream == ["g.a", "gate"]
    assert upload.module == "test_compiler.py" and upload.line is not None
    assert plan.step("extract").callable.endswith("extract")


def test_plan_round_trips_and_hash_is_set():
    plan = compile_dag(build())
    assert len(plan.hash) == 16
    again = StepPlan.from_json(plan.to_json())
    assert again == plan and again.with_hash().hash == plan.hash


def test_definition_order_breaks_ties():
    with DAG("order") as d:
        for name in ["z", "a", "m"]:
            EmptyOperator(task_id=name)
    assert [s.task_id for s in compile_dag(d).steps] == ["z", "a", "m"]


def test_module_relative_to_dags_root(tmp_path):
    sub = tmp_path / "team"
    sub.mkdir()
    d = DAG("rel", fileloc=str(sub / "x.py"), lineno=1)
    assert relative_fileloc(d, str(tmp_path)) == "team/x.py"
    assert compile_dag(d, str(tmp_path)).fileloc == "team/x.py"


def test_encode_is_stable():
    def fn():
        pass

    assert encode({"a": (1, 2.5, None), "f": fn}) == {"a": [1, 2.5, None], "f": {"$repr": "<function test_encode_is_stable.<locals>.fn>"}}
    assert encode({1: "x"}) == {"$repr": "{1: 'x'}"}
    assert encode(float("nan")) == {"$repr": "nan"}
    assert encode(datetime(2026, 1, 1)) == {"$repr": "datetime.datetime(2026, 1, 1, 0, 0)"}
    assert stable_repr({"b", "a"}) == "{'a', 'b'}"
    assert " at 0x" not in stable_repr(object())
    assert encode({"$xcom": "spoof"}) == {"$repr": "{'$xcom': 'spoof'}"}


def test_python_operator_args_encoded():
    with DAG("py") as d:
        src = EmptyOperator(task_id="src")
        PythonOperator(task_id="p", python_callable=print, op_args=[1, src.output], op_kwargs={"k": "{{ ds }}"})
    step = compile_dag(d).step("p")
    assert step.op_args == [1, {"$xcom": "src", "key": None}]
    assert step.args == {"k": "{{ ds }}"}
    assert step.upstream == ["src"]


def test_hash_is_stable_across_processes(tmp_path):
    dag_file = tmp_path / "stable.py"
    dag_file.write_text(textwrap.dedent("""
        from datetime import datetime
        from orchestrator import dag, task

        @dag(schedule="@hourly", start_date=datetime(2026, 1, 1), tags={"x", "y", "z", "w"})
        def stable():
            @task
            def a(x=frozenset({"p", "q"})):
                return 1
            @task
            def b(v, f=print):
                return v
            b.expand(v=[a(), {"k": object()}])
        stable()
    """))
    code = (
        "import sys; from orchestrator.plan.loader import DagBag; from orchestrator.plan.compiler import compile_dag;"
        f"b = DagBag({str(tmp_path)!r}); print(compile_dag(b.get_dag('stable'), {str(tmp_path)!r}).hash)"
    )
    hashes = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1
