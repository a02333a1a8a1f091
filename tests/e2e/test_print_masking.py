"""#15: a task that prints a secret it read (SecureString Variable, Connection password) has it masked
in the stored log, as its log lines are."""

from __future__ import annotations

import json
import textwrap

from orchestrator import secrets
from orchestrator.local.cloud import LocalCloud
from orchestrator.observe.service import RunsView

PASSWORD = "hunter2-Xq9-secret"
TOKEN = "vendor-tok-77aa66bb"

DAG = '''\
import sys
from datetime import datetime
from orchestrator import dag, task
from orchestrator.secrets import Connection, Variable

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def prints_secrets():
    @task
    def leak():
        token = Variable.get("vendor_token")
        conn = Connection.get("warehouse")
        print("token is", token)
        print(f"password={conn.password};host={conn.host}")
        sys.stderr.write("stderr " + conn.password + "\\n")
        print("done printing")

    leak()

prints_secrets()
'''


def test_printed_secrets_are_masked_in_the_stored_log(tmp_path):
    (tmp_path / "prints.py").write_text(textwrap.dedent(DAG))
    try:
        with LocalCloud(tmp_path, auto_advance=True, stack_name="printmask") as cloud:
            cloud.clients.client("ssm").put_parameter(Name="/stratus/variables/vendor_token", Value=TOKEN,
                                                      Type="SecureString")
            cloud.clients.client("secretsmanager").create_secret(
                Name="stratus/dags/prints_secrets/warehouse",  # per-DAG isolation: the DAG's own connection
                SecretString=json.dumps({"conn_type": "postgres", "host": "db.internal", "login": "etl",
                                         "password": PASSWORD}))
            run = cloud.run_dag("prints_secrets")
            lines = [line.render() for line in RunsView(cloud.clients, cloud.resources).log_lines(
                "prints_secrets", run["run_id"], "leak")]
    finally:
        secrets.MASKER.clear()
    text = "\n".join(lines)
    assert run["state"] == "success"
    assert "token is ***" in text and "password=***;host=db.internal" in text and "done printing" in text, text
    assert PASSWORD not in text and TOKEN not in text
