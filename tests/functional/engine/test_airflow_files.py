"""DAG files written for Apache Airflow (its import paths, pendulum, macros, var, conn) run unchanged."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone

import pytest

from orchestrator.plan.loader import DagBag


def _write(h, name: str, body: str) -> None:
    (h.root / f"{name}.py").write_text(textwrap.dedent(body))


def test_an_airflow_3_taskflow_file_runs_with_pendulum_dates_and_conf_over_params(h):
    _write(h, "af3", """
        import pendulum
        from airflow.sdk import dag, task, Param, get_current_context
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.task.trigger_rule import TriggerRule

        @dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
             params={"limit": Param(2, type="integer", minimum=1)})
        def af3():
            @task
            def dates(**context):
                ld = context["logical_date"]
                return {"next": ld.add(days=1).to_date_string(), "year": context["data_interval_end"].format("YYYY"),
                        "limit": context["params"]["limit"], "tz": ld.timezone_name}

            @task
            def numbers(limit):
                return list(range(limit))

            @task
            def total(values):
                return sum(values) + len(get_current_context()["run_id"]) * 0

            @task(trigger_rule=TriggerRule.ALL_DONE)
            def last():
                return "done"

            d = dates()
            t = total(numbers(d["limit"]))
            t >> EmptyOperator(task_id="mark") >> last()

        af3()
    """)
    run = h.run("af3", conf={"limit": 4}, logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    assert run["state"] == "success"
    assert h.states("af3", run["run_id"]) == {"dates": "success", "numbers": "success", "total": "success",
                                               "mark": "success", "last": "success"}
    assert h.store.get_xcom("af3", run["run_id"], "dates") == {"next": "2026-03-05", "year": "2026",
                                                                "limit": 4, "tz": "UTC"}
    assert h.store.get_xcom("af3", run["run_id"], "total") == 6


def test_a_classic_airflow_2_file_renders_macros_variables_and_connections(h, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_TARGET_TABLE", "sales_daily")
    monkeypatch.setenv("AIRFLOW_VAR_SETTINGS", '{"region": "eu"}')
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://etl:pw@db.internal:5432/analytics")
    _write(h, "classic", """
        from datetime import datetime, timedelta

        from airflow import DAG
        from airflow.operators.python import PythonOperator, BranchPythonOperator
        from airflow.operators.empty import EmptyOperator
        from airflow.utils.trigger_rule import TriggerRule
        from airflow.utils.edgemodifier import Label

        default_args = {"owner": "data-eng", "depends_on_past": False, "email": ["oncall@example.com"],
                        "email_on_failure": False, "retries": 1, "retry_delay": timedelta(minutes=5)}

        def extract(ds, **kwargs):
            return {"rows": 3, "day": ds}

        def transform(ti, **kwargs):
            return ti.xcom_pull(task_ids="extract")["rows"] * 2

        def report(line):
            return line

        def choose(**context):
            return "big" if context["ti"].xcom_pull(task_ids="transform") > 5 else "small"

        with DAG(dag_id="classic", default_args=default_args, schedule="0 2 * * *",
                 start_date=datetime(2026, 1, 1), catchup=False, tags=["classic"]) as dag:
            t1 = PythonOperator(task_id="extract", python_callable=extract)
            t2 = PythonOperator(task_id="transform", python_callable=transform)
            t3 = PythonOperator(task_id="report", python_callable=report, op_kwargs={"line": (
                "{{ ds }} {{ macros.ds_add(ds, -1) }} {{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }} "
                "{{ var.value.target_table }} {{ var.json.settings.region }} {{ var.value.get('nope', 'dflt') }} "
                "{{ conn.warehouse.host }}:{{ conn.warehouse.port }} {{ ti.xcom_pull(task_ids='transform') }}")})
            pick = BranchPythonOperator(task_id="pick", python_callable=choose)
            big, small = EmptyOperator(task_id="big"), EmptyOperator(task_id="small")
            done = EmptyOperator(task_id="done", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
            t1 >> t2 >> [t3, pick]
            pick >> Label("many rows") >> big >> done
            small << Label("few rows") << pick
            small >> done
    """)
    run = h.run("classic", logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    assert run["state"] == "success"
    assert h.store.get_xcom("classic", run["run_id"], "report") == (
        "2026-03-04 2026-03-03 04/03/2026 sales_daily eu dflt db.internal:5432 6")
    states = h.states("classic", run["run_id"])
    assert (states["big"], states["small"], states["done"]) == ("success", "skipped", "success")


def test_bash_operator_and_task_bash_run_commands_with_airflow_exit_code_rules(h):
    _write(h, "shell", """
        from datetime import datetime
        from airflow.sdk import dag, task
        from airflow.providers.standard.operators.bash import BashOperator

        @dag(schedule=None, start_date=datetime(2026, 1, 1), params={"name": "world"})
        def shell():
            hello = BashOperator(task_id="hello", bash_command="echo first; echo 'hi {{ params.name }} {{ ds }}'",
                                 env={"ONLY": "this"})
            env_seen = BashOperator(task_id="env_seen", bash_command='echo "[$ONLY][${HOME:-}]"',
                                    env={"ONLY": "x"})
            skip = BashOperator(task_id="skip", bash_command="exit 99")
            fail = BashOperator(task_id="fail", bash_command="echo about to fail; exit 3", retries=0)

            @task.bash
            def count(n: int) -> str:
                return f"seq {n} | wc -l | tr -d ' '"

            @task
            def after(line):
                return f"got {line}"

            hello >> count(3)
            after(hello.output)
            skip >> BashOperator(task_id="below_skip", bash_command="echo never")

        shell()
    """)
    run = h.run("shell", conf={"name": "bash"}, logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    rid = run["run_id"]
    states = h.states("shell", rid)
    assert states == {"hello": "success", "env_seen": "success", "skip": "skipped", "fail": "failed",
                      "count": "success", "after": "success", "below_skip": "skipped"}
    assert h.store.get_xcom("shell", rid, "hello") == "hi bash 2026-03-04"  # the last line
    assert h.store.get_xcom("shell", rid, "env_seen") == "[x][]"  # env replaces the environment
    assert h.store.get_xcom("shell", rid, "count") == "3"
    assert h.store.get_xcom("shell", rid, "after") == "got hi bash 2026-03-04"
    assert "non-zero exit code 3" in h.store.get_ti("shell", rid, "fail", -1)["error"]
    assert run["state"] == "failed"


def test_trigger_dag_run_operator_starts_the_other_dag_with_rendered_conf(h):
    _write(h, "target", """
        from datetime import datetime
        from airflow.sdk import dag, task, Param

        @dag(schedule=None, start_date=datetime(2026, 1, 1), params={"day": Param("none", type="string")})
        def target():
            @task
            def show(**context):
                return context["params"]["day"]
            show()

        target()
    """)
    _write(h, "parent", """
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

        with DAG("parent", schedule=None, start_date=datetime(2026, 1, 1)):
            TriggerDagRunOperator(task_id="kick", trigger_dag_id="target", conf={"day": "{{ ds }}"},
                                  trigger_run_id="from_parent__{{ ds }}")
            TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="from_parent__{{ ds }}",
                                  skip_when_already_exists=True, trigger_rule="all_done")
            TriggerDagRunOperator(task_id="nowhere", trigger_dag_id="no_such_dag", retries=0)
    """)
    h.plan("target")
    run = h.run("parent", logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    states = h.states("parent", run["run_id"])
    assert states["kick"] == "success" and states["nowhere"] == "failed"
    assert states["again"] in ("success", "skipped")  # skipped when it ran after kick, else it started the run
    assert h.store.get_xcom("parent", run["run_id"], "kick", key="trigger_run_id") == "from_parent__2026-03-04"
    child = h.store.get_run("target", "from_parent__2026-03-04")
    assert child["state"] == "success" and child["run_type"] == "manual" and child["conf"] == {"day": "2026-03-04"}
    assert h.store.get_xcom("target", child["run_id"], "show") == "2026-03-04"
    assert "DAG 'no_such_dag'" in h.store.get_ti("parent", run["run_id"], "nowhere", -1)["error"]


def test_a_missing_variable_in_a_template_fails_the_task_naming_it(h):
    _write(h, "novar", """
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.python import PythonOperator

        with DAG("novar", schedule=None, start_date=datetime(2026, 1, 1)):
            PythonOperator(task_id="use", python_callable=lambda v: v, op_args=["{{ var.value.not_there }}"])
    """)
    run = h.run("novar")
    assert run["state"] == "failed"
    ti = h.store.get_ti("novar", run["run_id"], "use", -1)
    assert "Variable 'not_there' does not exist" in ti["error"]


@pytest.mark.parametrize("line, use, expected", [
    ("from airflow.providers.amazon.aws.operators.s3 import S3CopyObjectOperator",
     "S3CopyObjectOperator(task_id='copy', source_bucket_key='a', dest_bucket_key='b')",
     r"broken\.py:5: Task 'copy' in DAG 'broken' uses the 'amazon' provider \(apache-airflow-providers-amazon\) "
     r"\(airflow\.providers\.amazon\.aws\.operators\.s3\.S3CopyObjectOperator\), which Stratus does not serve: "
     r"Stratus runs no provider packages: write the step as a @task"),
    ("from airflow.providers.standard.operators.python import ExternalPythonOperator",
     "ExternalPythonOperator(task_id='ext', python='/venv/bin/python', python_callable=print)",
     r"broken\.py:5: Task 'ext' in DAG 'broken' uses external-Python tasks .*package the dependencies with the "
     r"worker function"),
])
def test_an_airflow_name_stratus_does_not_serve_imports_and_refuses_only_the_dag_using_it(tmp_path, line, use,
                                                                                           expected):
    from orchestrator.errors import PlanValidationError
    from orchestrator.plan.compiler import compile_dag

    (tmp_path / "broken.py").write_text(f"# dag file\n{line}\nfrom airflow.sdk import DAG\n"
                                        f"with DAG('broken', schedule=None):\n    {use}\n")
    (tmp_path / "fine.py").write_text("from airflow.decorators import dag, task\nfrom datetime import datetime\n\n"
                                      "@dag(schedule=None, start_date=datetime(2026, 1, 1))\ndef fine():\n"
                                      "    @task\n    def one():\n        return 1\n    one()\n\nfine()\n")
    bag = DagBag(str(tmp_path))
    assert sorted(bag.dags) == ["broken", "fine"] and not bag.import_errors
    compile_dag(bag.get_dag("fine"), str(tmp_path))
    with pytest.raises(PlanValidationError) as err:
        compile_dag(bag.get_dag("broken"), str(tmp_path))
    assert re.search(expected, str(err.value)), str(err.value)
