"""`stratus run`, `stratus demo` and `stratus deploy` end to end (embedded cloud, fake sam)."""

from __future__ import annotations

import json
import shutil
import stat
import textwrap
from pathlib import Path


from orchestrator.cli.main import main

ROOT = Path(__file__).resolve().parents[3]

FAILING = '''\
from datetime import datetime
from orchestrator import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def breaks():
    @task
    def ok() -> int:
        return 1

    @task
    def boom(x: int) -> int:
        print("read 0 rows from the landing bucket")
        raise ValueError("no good")

    boom(ok())

breaks()
'''


def test_run_json_prints_the_final_run_and_its_task_instances(capsys):
    status = main(["run", "etl_taskflow", "--dags", str(ROOT / "dags"), "--json", "--conf", "{}"])
    out, err = capsys.readouterr()
    assert status == 0
    data = json.loads(out)
    assert data["run"]["state"] == "success" and data["run"]["dag_id"] == "etl_taskflow"
    assert {t["state"] for t in data["task_instances"]} == {"success"}
    assert "started on the local cloud" in err and "done " in err


def test_run_of_a_failing_dag_prints_the_table_and_exits_1(tmp_path, capsys):
    (tmp_path / "breaks.py").write_text(FAILING)
    status = main(["run", "breaks", "--dags", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["ok"], ["boom"])}
    assert rows["ok"][1:4] == ["-", "success", "1"]
    assert rows["boom"][1:4] == ["-", "failed", "1"]
    assert "breaks manual__" in out and ": failed" in out
    # where it failed and why, with the task's last output line, shown right there
    assert "FAILED boom (try 1): ValueError: no good" in out
    assert "  | read 0 rows from the landing bucket" in out


def test_run_json_is_the_documented_shape_without_storage_keys(tmp_path, capsys):
    (tmp_path / "breaks.py").write_text(FAILING)
    assert main(["run", "breaks", "--dags", str(tmp_path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    from orchestrator.local.report import RUN_FIELDS, TI_FIELDS

    assert list(data["run"]) == list(RUN_FIELDS)
    boom = next(t for t in data["task_instances"] if t["task_id"] == "boom")
    assert set(boom) == {*TI_FIELDS, "error", "tries", "xcoms", "output_tail"}
    assert boom["error"]["type"] == "ValueError" and boom["error"]["message"] == "no good"
    assert boom["output_tail"] == ["read 0 rows from the landing bucket"]
    text = json.dumps(data)
    assert '"pk"' not in text and "gsi1" not in text and "c#" not in text


def test_run_rejects_bad_conf_and_dates(capsys):
    assert main(["run", "x", "--conf", "[1]"]) == 1
    assert "--conf for DAG 'x' must be a JSON object, got list" in capsys.readouterr().err
    assert main(["run", "x", "--logical-date", "yesterday"]) == 1
    assert "--logical-date 'yesterday' is not an ISO-8601 date" in capsys.readouterr().err


def test_run_of_an_unknown_dag_names_the_dags_found(tmp_path, capsys):
    (tmp_path / "breaks.py").write_text(FAILING)
    assert main(["run", "nope", "--dags", str(tmp_path)]) == 1
    assert "DAG 'nope' not found in" in capsys.readouterr().err


def test_demo_runs_each_example_and_fails_when_one_does_not_succeed(tmp_path, capsys):
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("etl_taskflow.py", "s3_arrival.py"):
        shutil.copy(ROOT / "dags" / name, dags / name)
    assert main(["demo", "--dags", str(dags)]) == 0
    out = capsys.readouterr().out
    assert "== etl_taskflow (manual run)" in out
    assert "== s3_arrival (S3 object -> EventBridge -> trigger)" in out
    assert "All DAGs ran as expected" in out
    (dags / "breaks.py").write_text(FAILING)
    assert main(["demo", "--dags", str(dags)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: a run did not succeed" in out and "Some DAGs did not run as expected" in out


def test_demo_catches_up_a_daily_dag_without_a_run_dated_in_the_future(tmp_path, capsys):
    import re
    from datetime import datetime, timedelta, timezone

    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "daily_catchup.py", dags / "daily_catchup.py")
    assert main(["demo", "--dags", str(dags)]) == 0
    out = capsys.readouterr().out
    assert "== daily_catchup (schedule fire now (catch-up: 4 run(s)))" in out
    dates = [datetime.fromisoformat(d) for d in re.findall(r"daily_catchup scheduled__(\S+):", out)]
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    assert sorted(dates) == [today - timedelta(days=n) for n in (3, 2, 1, 0)]  # none dated tomorrow


def _fake_sam(tmp_path: Path) -> Path:
    log = tmp_path / "sam-calls.jsonl"
    script = tmp_path / "sam"
    script.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env python3
        import json, sys
        with open({str(log)!r}, "a") as fh:
            fh.write(json.dumps(sys.argv[1:]) + "\\n")
    """))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def test_deploy_builds_and_deploys_with_sam_then_syncs(tmp_path, monkeypatch, capsys):
    from moto import mock_aws

    from orchestrator.config import Clients
    from orchestrator.local.stack import deploy_stack
    from orchestrator.local.template import translate

    log = _fake_sam(tmp_path)
    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "sam"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "etl_taskflow.py", dags / "etl_taskflow.py")
    with mock_aws():
        # What `sam deploy` would have created: the template as a stack (here in moto).
        translated = translate(ROOT / "template.yaml", staging_bucket="stratus-deploy-test")
        deploy_stack(Clients(region_name="us-east-1"), translated, stack_name="stratus-ci",
                     staging_bucket="stratus-deploy-test", region="us-east-1")
        status = main(["deploy", "--stack", "stratus-ci", "--dags", str(dags), "--parameter", "LandingBucketName=my-landing"])
        from orchestrator.local.target import stack_target
        from orchestrator.store import RunStore

        clients, resources = stack_target("stratus-ci")
        registered = [d["dag_id"] for d in RunStore(clients, resources).list_dags()]
    assert status == 0, capsys.readouterr()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[0] for c in calls] == ["build", "deploy"]
    assert f"DagsPath={dags.resolve()}" in calls[0] and "LandingBucketName=my-landing" in calls[0]
    # Isolation=dag (the default): sam builds template.yaml plus the DAG's own worker and role.
    built = Path(calls[0][calls[0].index("--template-file") + 1])
    assert built.name == ".stratus-template.json"
    generated = json.loads(built.read_text())["Resources"]
    workers = [r["Properties"]["FunctionName"] for r in generated.values()
               if r.get("Metadata", {}).get("StratusIsolationGroup")]
    assert workers == ["stratus-ci-worker-etl_taskflow"]
    deploy = calls[1]
    assert deploy[deploy.index("--stack-name") + 1] == "stratus-ci"
    assert "CAPABILITY_IAM" in deploy and "--resolve-s3" in deploy
    assert registered == ["etl_taskflow"]


def test_deploy_without_sam_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    import orchestrator.cli.run_commands as rc

    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "missing"))
    monkeypatch.setattr(rc, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["deploy", "--dags", str(tmp_path)]) == 1
    assert "aws-sam-cli not found: run `make sam`" in capsys.readouterr().err


def test_deploy_checks_credentials_before_it_builds(tmp_path, monkeypatch, capsys):
    log = _fake_sam(tmp_path)
    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "sam"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    dags = tmp_path / "dags"
    dags.mkdir()
    assert main(["deploy", "--dags", str(dags), "--region", "eu-west-1"]) == 1
    assert "No AWS credentials found: run `aws configure`" in capsys.readouterr().err
    assert not log.exists()  # nothing was built


def test_deploy_checks_the_landing_bucket_against_the_dags_assets(tmp_path, monkeypatch, capsys):
    from moto import mock_aws

    log = _fake_sam(tmp_path)
    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "sam"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)  # no samconfig.toml here
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "s3_arrival.py", dags / "s3_arrival.py")
    with mock_aws():
        status = main(["deploy", "--stack", "new", "--dags", str(dags), "--parameter", "LandingBucketName=other",
                       "--no-sync"])
        err = capsys.readouterr().err
        assert status == 1 and not log.exists()
        assert ("DAG(s) s3_arrival wait for objects in s3://stratus-landing/, but the stack's landing bucket would "
                "be 'other' (--parameter): their runs would never start. Pass --parameter "
                "LandingBucketName=stratus-landing") in err
        # without a name anywhere, the one bucket the DAGs name is used, and said so
        assert main(["deploy", "--stack", "new", "--dags", str(dags), "--no-sync"]) == 0
    out = capsys.readouterr().out
    assert "landing bucket stratus-landing (the bucket the DAGs' S3 Assets name (s3_arrival)" in out
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert "LandingBucketName=stratus-landing" in calls[0]


def test_deploy_with_isolation_shared_builds_template_yaml_as_it_is(tmp_path, monkeypatch, capsys):
    from moto import mock_aws

    log = _fake_sam(tmp_path)
    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "sam"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)  # no samconfig.toml, no template.yaml here: the package's template
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "etl_taskflow.py", dags / "etl_taskflow.py")
    with mock_aws():
        assert main(["deploy", "--stack", "new", "--dags", str(dags), "--no-sync", "--parameter", "Isolation=shared",
                     "--parameter", "LandingBucketName=my-landing"]) == 0
    assert "isolation: shared (every DAG runs in the one WorkerFunction)" in capsys.readouterr().out
    build = [json.loads(line) for line in log.read_text().splitlines()][0]
    assert build[build.index("--template-file") + 1] == str(ROOT / "template.yaml") and "Isolation=shared" in build


def test_destroy_deletes_the_stack_and_says_what_is_kept(tmp_path, monkeypatch, capsys):
    from moto import mock_aws

    from orchestrator.config import Clients
    from orchestrator.local.stack import deploy_stack
    from orchestrator.local.template import translate

    log = _fake_sam(tmp_path)
    monkeypatch.setenv("STRATUS_SAM", str(tmp_path / "sam"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        translated = translate(ROOT / "template.yaml", staging_bucket="stratus-destroy-test")
        deploy_stack(Clients(region_name="us-east-1"), translated, stack_name="gone",
                     staging_bucket="stratus-destroy-test", region="us-east-1")
        assert main(["destroy", "--stack", "gone", "--yes"]) == 0
        out = capsys.readouterr().out
        assert "Stack 'gone' deleted. Kept (DeletionPolicy Retain): DynamoDB table" in out
        assert main(["destroy", "--stack", "gone", "--yes", "--purge"]) == 0
        tables = Clients(region_name="us-east-1").client("dynamodb").list_tables()["TableNames"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0][:4] == ["delete", "--stack-name", "gone", "--no-prompts"]
    assert not [t for t in tables if t.startswith("gone")]


ONE_TASK = '''\
from datetime import datetime
from orchestrator import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def one_task():
    @task
    def only() -> int:
        return 1

    only()

one_task()
'''

_MODULES_AFTER_RUN = """
import json, sys
from orchestrator.cli.main import main
status = main(["run", "one_task", "--dags", sys.argv[1]])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_a_fresh_one_task_run_imports_only_what_it_needs(tmp_path):
    """Regression guard for the cold start (#17): a fresh `stratus run` of a one-task DAG with nothing
    to template, nothing failing and a deploy kept imports no Jinja, no read model, no other command,
    no CloudFormation or SAM translator, and no croniter (its import runs `file` on the interpreter) for
    a DAG with no cron schedule; a DAG file of the folder that fails to import (the isolation groups
    read every DAG file's tags and assets) does not stop it and leaves no module behind."""
    import os
    import subprocess
    import sys

    (tmp_path / "one_task.py").write_text(ONE_TASK)
    (tmp_path / "other_dag.py").write_text("# a broken dag file beside the one that runs\nraise RuntimeError('imported')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(2):  # the first may deploy and keep the stack; the second restores it, as every later run
        done = subprocess.run([sys.executable, "-c", _MODULES_AFTER_RUN, str(tmp_path)], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 0
    modules = set(result["modules"])
    assert "orchestrator.cli.run_commands" in modules and "moto" in modules  # it did run
    unwanted = sorted(m for m in modules if m.split(".")[0] in ("jinja2", "samtranslator", "croniter")
                      or m.startswith(("moto.cloudformation", "orchestrator.observe.service",
                                       "orchestrator.cli.view_commands", "orchestrator.cli.dag_commands",
                                       "orchestrator.cli.trigger_commands", "orchestrator.cli.ops_commands"))
                      or m.endswith("_other_dag"))
    assert unwanted == []
