"""Rendered template fields (Airflow's "Rendered Template"): the worker stores each try's, the task-instance
page and `stratus tasks rendered` show them per try, secrets masked, large values cut and kept in S3.

Workers run inline from a queue (the worker's code path, Engine.handle_task, minus the Lambda hop).
"""

from __future__ import annotations

import html
import json
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import pytest

from orchestrator.observe.ui import UIServer
from orchestrator.secrets import MASKER
from orchestrator.store import rendered

SECRET = "hunter2-warehouse-pw"

TEMPLATED = '''
from __future__ import annotations
from datetime import datetime
from orchestrator import BashOperator, Param, PythonOperator, dag, task


def _blob(blob):
    return len(blob)


@dag(schedule=None, start_date=datetime(2026, 1, 1), params={"region": Param("eu-west", type="string")})
def templated():
    BashOperator(
        task_id="export",
        bash_command="echo day={{ ds }} region={{ params.region }} conf={{ dag_run.conf }}",
        env={"DB_PASS": "{{ var.value.warehouse_password }}", "API_TOKEN": "literal-token", "REGION": "{{ params.region }}"},
    )

    @task
    def report(day: str, batch: str) -> str:
        return f"{day}/{batch}"

    report(day="{{ ds_nodash }}", batch="{{ dag_run.conf['batch'] }}")

    BashOperator(task_id="flaky", retries=1, retry_delay=0,
                 bash_command="echo try {{ ti.try_number }}; exit $(( {{ ti.try_number }} < 2 ))")

    PythonOperator(task_id="big", python_callable=_blob, op_kwargs={"blob": "{{ 'x' * 9000 }}"})


templated()
'''

LOGICAL = datetime(2026, 3, 14, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(inline_engine, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("AIRFLOW_VAR_WAREHOUSE_PASSWORD", SECRET)
    MASKER.clear()
    engine, drain, store, view = inline_engine({"templated.py": TEMPLATED}, "templated")
    run_id = engine.start_run("templated", logical_date=LOGICAL, conf={"batch": 7})["run_id"]
    drain()
    yield engine, drain, store, view, run_id
    MASKER.clear()


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def test_each_try_stores_its_rendered_fields_with_secrets_masked(world):
    engine, drain, store, view, run_id = world
    assert store.get_run("templated", run_id)["state"] == "success"
    export = store.get_ti("templated", run_id, "export")
    doc = json.loads(export["rendered_fields"])
    assert doc["fields"]["bash_command"] == "echo day=2026-03-14 region=eu-west conf={'batch': 7}"
    # DB_PASS: a registered secret (the Variable's key names a password); API_TOKEN: the key names a secret.
    assert doc["fields"]["env"] == {"DB_PASS": "***", "API_TOKEN": "***", "REGION": "eu-west"}
    assert doc["truncated"] == []
    assert SECRET not in json.dumps(export, default=str)
    report = json.loads(store.get_ti("templated", run_id, "report")["rendered_fields"])
    assert report["fields"]["op_kwargs"] == {"day": "20260314", "batch": "7"}
    assert store.get_xcom("templated", run_id, "report") == "20260314/7"


def test_a_retried_try_keeps_its_own_rendered_fields(world):
    engine, drain, store, view, run_id = world
    flaky = store.get_ti("templated", run_id, "flaky")
    assert flaky["state"] == "success" and int(flaky["try_number"]) == 2
    tries = view.rendered("templated", run_id, "flaky")
    assert [(t.try_number, t.state, t.fields["bash_command"]) for t in tries] == [
        (2, "success", "echo try 2; exit $(( 2 < 2 ))"), (1, "failed", "echo try 1; exit $(( 1 < 2 ))")]
    # A clear moves the ended try's fields to its history entry; the next try stores its own.
    engine.clear("templated", run_id, ["flaky"])
    assert "rendered_fields" not in store.get_ti("templated", run_id, "flaky")
    drain()
    assert [t.try_number for t in view.rendered("templated", run_id, "flaky")] == [3, 2, 1]
    assert view.rendered("templated", run_id, "flaky")[0].fields["bash_command"].startswith("echo try 3;")


def test_a_large_rendered_value_is_cut_and_kept_under_the_dags_xcom_prefix(world):
    engine, drain, store, view, run_id = world
    big = store.get_ti("templated", run_id, "big")
    ref = json.loads(big["rendered_fields"])
    assert ref == {"$s3": f"xcom/templated/{run_id}/big/-1/1.rendered.json"}
    assert len(big["rendered_fields"]) < 200  # the item holds only the key
    (tried,) = view.rendered("templated", run_id, "big")
    blob = tried.fields["op_kwargs"]
    assert tried.truncated == ("op_kwargs",) and isinstance(blob, str)
    assert blob.startswith('{"blob": "xxxx') and f"truncated: 9,012 characters, the first {rendered.max_field_length():,}" in blob
    assert store.get_xcom("templated", run_id, "big") == 9000  # the task itself got the whole value


def test_task_instance_page_shows_each_try_rendered(world):
    engine, drain, store, view, run_id = world
    with UIServer(view, port=0) as server:
        base = f"{server.url}/dags/templated/runs/{urllib.parse.quote(run_id, safe='')}/tasks"
        page = html.unescape(_page(f"{base}/export"))
        assert "Rendered template" in page and 'data-rendered="true"' in page
        assert "echo day=2026-03-14 region=eu-west conf={'batch': 7}" in page
        assert '"DB_PASS": "***"' in page and SECRET not in page
        flaky = html.unescape(_page(f"{base}/flaky"))
        assert flaky.index('data-try="2"><h4>Try 2') < flaky.index('data-try="1"><h4>Try 1')
        assert "echo try 1; exit $(( 1 < 2 ))" in flaky and "echo try 2; exit $(( 2 < 2 ))" in flaky
        assert "(truncated)" in html.unescape(_page(f"{base}/big"))


def test_cli_tasks_rendered_prints_each_try(world, monkeypatch, capsys):
    from orchestrator.cli import main as cli
    from orchestrator.cli import view_commands

    engine, drain, store, view, run_id = world
    monkeypatch.setattr(view_commands, "view_for", lambda args: view)
    assert cli.main(["tasks", "rendered", run_id, "flaky"]) == 0
    out = capsys.readouterr().out
    assert out == ("--- try 2 (success) ---\nbash_command: echo try 2; exit $(( 2 < 2 ))\nenv: None\ncwd: None\n"
                   "--- try 1 (failed) ---\nbash_command: echo try 1; exit $(( 1 < 2 ))\nenv: None\ncwd: None\n")
    assert cli.main(["tasks", "rendered", run_id, "export", "--json"]) == 0
    (one,) = json.loads(capsys.readouterr().out)
    assert one["try_number"] == 1 and one["fields"]["env"]["DB_PASS"] == "***"
    assert cli.main(["tasks", "rendered", run_id, "exprot"]) == 1
    assert "Did you mean 'export'?" in capsys.readouterr().err
