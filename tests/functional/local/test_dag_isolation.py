"""Per-DAG isolation, as far as built: DAG A's own worker role, evaluated by the local IAM check.

The store's real calls are made as a function whose role is ``dag_worker_policy("a")`` (with
the local stack's ARNs): DAG A's own run item, XCom, plan and secret are reachable, DAG B's
are denied (dynamodb:LeadingKeys, S3 prefixes, secrets prefix).
"""

from __future__ import annotations

import textwrap

import pytest

from orchestrator.plan.isolation import dag_worker_policy
from orchestrator.local import iam
from orchestrator.local.cloud import LocalCloud
from orchestrator.local.stack import ACCOUNT_ID
from orchestrator.secrets import SecretsBackend
from orchestrator.store import RunStore
from orchestrator.store.base import Update
from orchestrator.store.xcom import XComStore

DAG = """
from datetime import datetime
from orchestrator import dag, task

@dag(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1))
def make():
    @task
    def hello():
        return 1
    hello()

make()
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("dags")
    for dag_id in ("a", "b"):
        (root / f"{dag_id}.py").write_text(textwrap.dedent(DAG.format(dag_id=dag_id)))
    with LocalCloud(root) as c:
        c.sync_dag("a")
        c.sync_dag("b")
        c.clients.client("secretsmanager").create_secret(Name="stratus/dags/a/conn", SecretString="a-secret")
        c.clients.client("secretsmanager").create_secret(Name="stratus/dags/b/conn", SecretString="b-secret")
        store = RunStore(c.clients, c.resources)
        for dag_id in ("a", "b"):
            store.create_run({"dag_id": dag_id, "run_id": "r1", "state": "running", "run_type": "manual"})
        table_arn = f"arn:aws:dynamodb:{c.region}:{ACCOUNT_ID}:table/{c.resources.table}"
        policy = dag_worker_policy("a", table_arn=table_arn, artefact_bucket_arn=f"arn:aws:s3:::{c.resources.artefact_bucket}",
                                   region=c.region, account=ACCOUNT_ID)
        c.iam.roles["stratus-local-worker-a"] = iam.RolePolicies("stratus-local-WorkerARole", [policy])
        yield c


@pytest.fixture
def as_dag_a_worker(cloud):
    token = iam.CALLER.set((cloud.iam, "stratus-local-worker-a"))
    yield
    iam.CALLER.reset(token)
    cloud.iam.take_denials()  # the denials below are the point of these tests


def _denied(cloud, call, action: str, resource_part: str) -> None:
    with pytest.raises(Exception, match="AccessDeniedException"):  # StoreError wraps the ClientError
        call()
    denial = cloud.iam.denials[-1]
    assert (denial.function, denial.action) == ("stratus-local-worker-a", action)
    assert resource_part in denial.resource


def test_dag_a_reaches_its_own_run_item_but_not_dag_bs(cloud, as_dag_a_worker):
    store = RunStore(cloud.clients, cloud.resources)
    store.update_run("a", "r1", Update(set_={"note": "mine"}))
    assert store.get_run("a", "r1")["note"] == "mine"
    _denied(cloud, lambda: store.update_run("b", "r1", Update(set_={"note": "tampered"})), "dynamodb:UpdateItem", "table/")
    _denied(cloud, lambda: store.get_run("b", "r1"), "dynamodb:GetItem", "table/")


def test_dag_a_writes_its_own_xcom_but_not_dag_bs(cloud, as_dag_a_worker, monkeypatch):
    monkeypatch.setenv("STRATUS_INLINE_XCOM_LIMIT", "1")  # every value goes to S3
    xcom = XComStore(cloud.clients.client("s3"), cloud.resources.artefact_bucket)
    where = dict(run_id="r1", task_id="hello", map_index=-1, try_number=1)
    assert xcom.place('"big"', dag_id="a", **where)[1].startswith("xcom/a/")
    _denied(cloud, lambda: xcom.place('"forged"', dag_id="b", **where), "s3:PutObject", "/xcom/b/")


def test_dag_a_reads_its_own_plan_but_not_dag_bs(cloud, as_dag_a_worker):
    from orchestrator.store import registry

    store = RunStore(cloud.clients, cloud.resources)
    token = iam.CALLER.set(None)  # the registry's pointers, read here as the platform
    try:
        hashes = {dag_id: store.get_current_plan(dag_id).hash for dag_id in ("a", "b")}
    finally:
        iam.CALLER.reset(token)
    registry._PLAN_CACHE.clear()  # read from S3, not from this process's cache
    assert store.get_plan("a", hashes["a"]).dag_id == "a"
    _denied(cloud, lambda: store.get_plan("b", hashes["b"]), "s3:GetObject", "/plans/b/")


def test_dag_a_reads_its_own_secret_but_not_dag_bs(cloud, as_dag_a_worker):
    secrets = SecretsBackend(cloud.clients, connections_prefix="stratus/dags/a/")
    assert secrets.connection_text("conn") == "a-secret"
    other = SecretsBackend(cloud.clients, connections_prefix="stratus/dags/b/")
    _denied(cloud, lambda: other.connection_text("conn"), "secretsmanager:GetSecretValue", "secret:stratus/dags/b/conn")
