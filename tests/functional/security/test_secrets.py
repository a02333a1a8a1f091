"""Variables and Connections from SSM / Secrets Manager (moto), and secrets kept out of logs."""

from __future__ import annotations

import json
import logging

import pytest
from moto import mock_aws

from orchestrator import secrets
from orchestrator.config import Clients
from orchestrator.secrets import (Connection, SecretFormatError, SecretNotFoundError, SecretsBackend, Variable,
                                  redact)

DB_PASSWORD = "p@ss/w0rd-Zq8!"
API_TOKEN = "tok_9f8e7d6c5b4a"


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AIRFLOW_VAR_REGION", "AIRFLOW_CONN_WAREHOUSE"):
        monkeypatch.delenv(k, raising=False)
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        ssm, sm = clients.client("ssm"), clients.client("secretsmanager")
        ssm.put_parameter(Name="/stratus/variables/region", Value="eu-west-1", Type="String")
        ssm.put_parameter(Name="/stratus/variables/vendor_key", Value=API_TOKEN, Type="SecureString")
        ssm.put_parameter(Name="/stratus/variables/limits", Value=json.dumps({"rows": 10}), Type="String")
        sm.create_secret(Name="stratus/connections/warehouse", SecretString=json.dumps({
            "conn_type": "postgres", "host": "db.internal", "login": "etl", "password": DB_PASSWORD,
            "schema": "sales", "port": 5432, "extra": {"sslmode": "require", "api_token": API_TOKEN}}))
        ssm.put_parameter(Name="/stratus/connections/legacy", Type="SecureString",
                          Value="mysql://app:s%40fe-pw%21@legacy.internal:3306/crm?charset=utf8")
        secrets.set_backend(SecretsBackend(clients))
        yield clients
        secrets.set_backend(None)
        secrets.MASKER.clear()


def test_variables_from_ssm_env_default_and_json(aws, monkeypatch):
    assert Variable.get("region") == "eu-west-1"
    assert Variable.get("limits", deserialize_json=True) == {"rows": 10}
    assert Variable.get("missing", default="fallback") == "fallback"
    assert Variable.get("missing", default_var=None) is None  # Airflow 2 spelling
    monkeypatch.setenv("AIRFLOW_VAR_REGION", "us-west-2")
    assert Variable.get("region") == "us-west-2"  # the environment first, as in Airflow


def test_variable_set_and_delete_write_the_ssm_parameter(aws):
    Variable.set("batch_size", 500)
    assert Variable.get("batch_size") == "500"
    Variable.set("limits", {"rows": 20}, serialize_json=True)  # replaces the earlier value
    assert Variable.get("limits", deserialize_json=True) == {"rows": 20}
    got = aws.client("ssm").get_parameter(Name="/stratus/variables/limits")["Parameter"]
    assert got["Type"] == "String" and json.loads(got["Value"]) == {"rows": 20}
    assert Variable.delete("batch_size") is True and Variable.delete("batch_size") is False
    assert Variable.get("batch_size", default=None) is None


def test_missing_variable_names_where_to_create_it(aws):
    with pytest.raises(SecretNotFoundError, match=r"Variable 'nope' does not exist: create the SSM parameter "
                                                  r"'/stratus/variables/nope' \(or set AIRFLOW_VAR_NOPE\)"):
        Variable.get("nope")
    with pytest.raises(KeyError):  # Airflow code catches KeyError
        Variable.get("nope")


def test_hostile_names_are_refused_before_any_call(aws):
    with pytest.raises(SecretFormatError, match=r"Invalid Variable name '\.\./\.\./prod/db'"):
        Variable.get("../../prod/db")
    with pytest.raises(SecretFormatError, match="Invalid Connection name"):
        Connection.get("x\x00y")


def test_connection_from_secrets_manager_json(aws):
    conn = Connection.get("warehouse")
    assert (conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port) == (
        "postgres", "db.internal", "etl", DB_PASSWORD, "sales", 5432)
    assert conn.extra_dejson == {"sslmode": "require", "api_token": API_TOKEN}
    assert DB_PASSWORD not in repr(conn) and "password='***'" in repr(conn)
    assert Connection.from_uri("warehouse", conn.get_uri()) == conn


def test_connection_uri_from_ssm_when_not_in_secrets_manager(aws):
    conn = Connection.get("legacy")
    assert (conn.conn_type, conn.login, conn.password, conn.host, conn.port, conn.schema) == (
        "mysql", "app", "s@fe-pw!", "legacy.internal", 3306, "crm")
    assert conn.extra_dejson == {"charset": "utf8"}


def test_missing_connection_names_the_secret_to_create(aws):
    with pytest.raises(SecretNotFoundError, match=r"Connection 'ghost' does not exist: create the Secrets Manager "
                                                  r"secret 'stratus/connections/ghost'"):
        Connection.get("ghost")


def test_secrets_are_masked_in_every_log_path(aws, caplog, capsys):
    conn = Connection.get("warehouse")
    token = Variable.get("vendor_key")
    region = Variable.get("region")
    log = logging.getLogger("airflow.task")
    with caplog.at_level(logging.DEBUG):
        log.info("connecting with %s", conn.password)
        log.info(f"token is {token}")
        log.warning("extra", extra={"detail": {"pw": DB_PASSWORD}})
        try:
            raise ValueError(f"login failed for etl:{DB_PASSWORD}")
        except ValueError:
            log.exception("task failed")
        from orchestrator.telemetry import logger as powertools_logger

        powertools_logger.info("powertools line", extra={"uri": conn.get_uri()})
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + capsys.readouterr().out
    assert DB_PASSWORD not in text and API_TOKEN not in text
    assert "***" in text and region == "eu-west-1"
    assert redact(f"error: {DB_PASSWORD}") == "error: ***"


def test_botocore_debug_logging_does_not_print_the_fetched_secret(aws, caplog):
    secrets.MASKER.clear()
    with caplog.at_level(logging.DEBUG, logger="botocore"):
        Connection.get("warehouse")
    assert DB_PASSWORD not in caplog.text


SECRET_DAG = '''
from datetime import datetime
import logging
from orchestrator import dag, task
from orchestrator.secrets import Connection, Variable


@dag(dag_id="uses_secrets", schedule=None, start_date=datetime(2026, 1, 1))
def uses_secrets():
    @task
    def connect() -> str:
        conn = Connection.get("warehouse")
        token = Variable.get("vendor_key")
        log = logging.getLogger("airflow.task")
        log.info("dsn %s token %s", conn.get_uri(), token)
        print(f"stdout is the task's business: {len(conn.password)} chars")
        return conn.host

    @task(retries=0)
    def leak_in_error() -> None:
        conn = Connection.get("warehouse")
        raise RuntimeError(f"could not log in as {conn.login} with {conn.password}")

    connect() >> leak_in_error()


uses_secrets()
'''


def test_a_task_reading_secrets_never_logs_them(aws, tmp_path, caplog, capsys):
    from chaos import harness as chaos
    from chaos.faults import FaultRates, Faults

    root = tmp_path / "dags"
    root.mkdir()
    (root / "uses_secrets.py").write_text(SECRET_DAG)
    world = chaos.ChaosWorld(root, Faults(0, FaultRates.none()), chaos.SimClock(), threads=1)
    world.register(["uses_secrets"])
    with caplog.at_level(logging.DEBUG):
        world.start("uses_secrets", "r1")
        world.settle([("uses_secrets", "r1")])
    state, tis, _ = world.snapshot("uses_secrets", "r1")
    assert state == "failed" and tis == {"connect": "success", "leak_in_error": "failed"}
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + capsys.readouterr().out
    assert "could not log in as etl with ***" in text  # the failure is logged, masked
    assert DB_PASSWORD not in text and API_TOKEN not in text
    with world.faults.paused():
        error = world.store.get_ti("uses_secrets", "r1", "leak_in_error")["error"]
    assert "could not log in as etl with ***" in error and DB_PASSWORD not in error  # stored for the UI, masked
