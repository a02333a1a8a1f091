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


# ---------------------------------------------------------------- the generated stack
def _translated(groups, parameters=None):
    from orchestrator.local.cloud import DEFAULT_TEMPLATE
    from orchestrator.local.template import translate

    return translate(DEFAULT_TEMPLATE, staging_bucket="staging", isolation_groups=groups, stack_name="s",
                     parameters={"WidgetActions": "on", **(parameters or {})}).cloudformation["Resources"]


def test_the_stack_size_figure_is_what_the_template_translates_to():
    from orchestrator.plan import isolation

    shared = _translated([])
    assert len(shared) == isolation.SHARED_RESOURCES_MAX  # conditional resources included: the most it takes
    groups = isolation.groups_of([isolation.DagIsolation("a"), isolation.DagIsolation("b", ["stratus:isolation=g"]),
                                  isolation.DagIsolation("c", ["stratus:isolation=g"])])
    assert [(g.name, g.dag_ids) for g in groups] == [("a", ("a",)), ("g", ("b", "c"))]
    two = _translated(groups)
    added = {k: v["Type"] for k, v in two.items() if k not in shared}
    assert len(added) == 2 * isolation.RESOURCES_PER_GROUP
    assert sorted(set(added.values())) == ["AWS::IAM::Role", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::Function"]
    assert isolation.MAX_GROUPS == (500 - isolation.SHARED_RESOURCES_MAX) // 3 == 150
    assert _translated(groups, {"Isolation": "shared"}).keys() == shared.keys()  # the opt-out adds nothing


def test_past_the_stack_limit_the_deploy_says_how_many_and_what_to_do():
    from orchestrator.local.template import TemplateError, isolated, load_sam_template
    from orchestrator.local.cloud import DEFAULT_TEMPLATE
    from orchestrator.plan import isolation

    many = isolation.groups_of(isolation.DagIsolation(f"dag_{i}") for i in range(isolation.MAX_GROUPS + 1))
    with pytest.raises(TemplateError, match=r"151 isolation groups need 501 CloudFormation resources; one stack holds "
                                            r"500 \(48 shared \+ 3 per group\), so at most 150 groups\. .*Isolation=shared"):
        isolated(load_sam_template(DEFAULT_TEMPLATE), many, stack_name="s")


def test_a_dags_role_is_its_own_policy_plus_the_shared_paths_and_its_task_policies():
    from orchestrator.plan import isolation

    group, = isolation.groups_of([isolation.DagIsolation("a", ["stratus:task-policy=arn:aws:iam::1:policy/lake"])])
    resources = _translated([group], {"TaskPolicyArn": "arn:aws:iam::1:policy/all"})
    role = resources[f"{group.logical_stem}Role"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["OwnRunItems"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["DAG#a", "RUN#a#*"]}}
    assert {"Dispatch", "CrossDagRequests", "RetryTimers", "Logs"} <= set(statements)
    assert role["ManagedPolicyArns"]["Fn::If"][1] == [{"Ref": "TaskPolicyArn"}, "arn:aws:iam::1:policy/lake"]
    fn = resources[f"{group.logical_stem}Function"]["Properties"]
    assert fn["FunctionName"] == "s-worker-a"


def test_worker_function_names_fit_lambdas_limit_and_never_collide():
    from orchestrator.plan.isolation import worker_function_name

    assert worker_function_name("st-worker", "daily_sales") == "st-worker-daily_sales"
    dotted, dashed = worker_function_name("st-worker", "a.b"), worker_function_name("st-worker", "a-b")
    assert dotted != dashed and dotted.startswith("st-worker-a-b-")
    long = worker_function_name("st-worker", "x" * 200)
    assert len(long) == 64 and long != worker_function_name("st-worker", "x" * 199)


def test_a_role_policy_past_iams_size_limit_is_refused_before_the_deploy():
    # IAM refuses a role whose inline policies exceed 10,240 characters (LimitExceeded): moto does
    # not, so the translation checks the bound itself, for AWS's deploy and the local one alike.
    from orchestrator.local.cloud import DEFAULT_TEMPLATE
    from orchestrator.local.template import TemplateError, isolated, load_sam_template
    from orchestrator.plan import isolation

    def group_of(n):
        return isolation.groups_of(isolation.DagIsolation(f"team_dag_{i:02d}", ["stratus:isolation=team"])
                                   for i in range(n))

    isolated(load_sam_template(DEFAULT_TEMPLATE), group_of(10), stack_name="stratus")
    with pytest.raises(TemplateError, match=r"isolation group 'team' \(20 DAGs\) needs an inline policy of up to "
                                            r"[\d,]+ characters.*IAM allows 10,240 per role.*LimitExceeded.*Split the group"):
        isolated(load_sam_template(DEFAULT_TEMPLATE), group_of(20), stack_name="stratus")


def test_the_policy_size_bound_covers_the_deployed_roles_policy(cloud):
    import json
    import re

    from orchestrator.plan import isolation

    group = next(g for g in cloud.deployed_groups if g.name == "a")
    role = cloud.stack.physical_ids[f"{group.logical_stem}Role"]
    client = cloud.clients.client("iam")
    names = client.list_role_policies(RoleName=role)["PolicyNames"]
    deployed = sum(len(re.sub(r"\s", "", json.dumps(client.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])))
                   for n in names)
    template = isolation.worker_role_policy(group, isolation.worker_function_name(f"{cloud.stack_name}-worker", "a"))
    assert 2000 < deployed <= isolation.policy_chars_bound(template, cloud.stack_name)
