"""Per-DAG isolation (issue #15): each DAG's tasks run in their own worker function and role.

The deploy (``stratus deploy``, and the local cloud, which deploys the same way) reads the DAG
folder and adds to template.yaml, for every *isolation group*, one worker function and one IAM
role (``expand_template``). A DAG is its own group unless it names one with the tag
``stratus:isolation=<group>``; DAGs sharing a group share a function and a role. Each role
reaches only its DAGs' items of the run table, their S3 prefixes and their secrets prefixes::

    DynamoDB  item actions whose dynamodb:LeadingKeys are all  DAG#{dag_id}  or  RUN#{dag_id}#*
    S3        artefacts  xcom/{dag_id}/*  (read, write),  plans/{dag_id}/*  (read)
    secrets   Secrets Manager  stratus/dags/{dag_id}/*,  SSM  /stratus/dags/{dag_id}/*

plus what a worker needs of the shared orchestration (its own function for dispatch, the retry
queue and timers, the failure queue Lambda sends its OnFailure records to with this role, the
requests function for what crosses DAGs: ``orchestrator.triggers.requests``), the stack's
``TaskPolicyArn`` and the managed policies the DAG names with ``stratus:task-policy=<arn>``.

Dag ids contain no ``#`` (Airflow's dag_id alphabet: letters, digits, ``-``, ``.``, ``_``), so
``RUN#a#*`` never matches DAG ``ab``'s items. The local IAM check (``orchestrator.local.iam``)
evaluates these conditions, so a task of DAG A writing DAG B's run item, XCom or plan, or
reading B's secret, is denied locally as on AWS (``tests/functional/local/test_dag_isolation.py``).

The dispatchers find a DAG's function by name (``worker_function_name``): the shared worker's
name plus the group, so no mapping has to be shipped; they may invoke ``{stack}-worker-*``.

Stack size: CloudFormation allows 500 resources per stack. Each group adds
``RESOURCES_PER_GROUP`` (function, role, event invoke configuration) to the shared stack's
``SHARED_RESOURCES_MAX``, so one stack holds ``MAX_GROUPS`` groups; past that the deploy stops
with ``IsolationError`` saying so (group DAGs with the tag, or deploy with
``Isolation=shared``, the opt-out: every DAG in the one shared worker, as before).

Role policy size: IAM allows 10,240 characters (white space not counted) of inline policy per
role, and a group's policy grows with its DAGs (five resources each) and the assets its tasks
declare (about 15 DAGs with short ids in one group, or one DAG declaring some 130 assets of
50-character URIs). moto does not check; the translation does (``policy_chars_bound``: the
size once CloudFormation resolves the policy, at its longest on any account, region and
partition) and stops the deploy with ``IsolationError`` naming the group, before
CloudFormation would fail it with ``LimitExceeded``.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.constants import ENV_ISOLATION
from orchestrator.errors import StratusError

_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:Query"]

GROUP_TAG = "stratus:isolation="
TASK_POLICY_TAG = "stratus:task-policy="
PARAMETER = "Isolation"  # the template parameter: "dag" (default) or "shared"
MODES = ("dag", "shared")
METADATA_KEY = "StratusIsolationGroup"  # on each generated worker function: the group it runs
OUTPUT_KEY = "IsolationMode"  # present (value "dag") when the deploy generated the per-DAG workers

CFN_MAX_RESOURCES = 500
RESOURCES_PER_GROUP = 3  # AWS::Lambda::Function, AWS::IAM::Role, AWS::Lambda::EventInvokeConfig
# The translated template.yaml, conditional resources included; a test measures it.
SHARED_RESOURCES_MAX = 48
MAX_GROUPS = (CFN_MAX_RESOURCES - SHARED_RESOURCES_MAX) // RESOURCES_PER_GROUP
FUNCTION_NAME_MAX = 64
# IAM: a role's inline policies together, in characters, white space not counted (LimitExceeded past it).
ROLE_POLICY_MAX_CHARS = 10_240


class IsolationError(StratusError):
    """The DAG folder cannot be deployed with per-DAG isolation as it is; says what to do."""


@dataclass(frozen=True)
class IsolationGroup:
    """One worker function and role: the DAGs it runs and the managed policies they attach."""

    name: str
    dag_ids: tuple[str, ...]
    task_policies: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()  # URIs its tasks declare as inlets or outlets (their asset state)

    @property
    def logical_stem(self) -> str:
        """CloudFormation logical id stem, e.g. ``WorkerEtlTaskflow1a2b3c4d`` (unique per group)."""
        words = re.split(r"[^A-Za-z0-9]+", self.name)
        camel = "".join(w[:1].upper() + w[1:] for w in words if w)[:40]
        return f"Worker{camel}{_digest(self.name)}"


@dataclass
class DagIsolation:
    """What the deploy knows of one DAG: its id and tags (the plan's ``tags``)."""

    dag_id: str
    tags: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)  # inlet and outlet URIs of its tasks


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _check_id(dag_id: str, what: str = "DAG id") -> None:
    if not _DAG_ID.match(dag_id):
        raise IsolationError(f"{what} {dag_id!r} cannot be isolated: use letters, digits, '-', '.' and '_' only.")


def isolation_group(dag_id: str, tags: Iterable[str] = ()) -> str:
    """The group of a DAG: the value of its ``stratus:isolation=<group>`` tag, else its id."""
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(GROUP_TAG):
            return tag[len(GROUP_TAG):].strip() or dag_id
    return dag_id


def worker_function_name(shared_worker: str, group: str) -> str:
    """The worker function of ``group``: ``{shared_worker}-{group}``, made a legal Lambda name.

    Names longer than 64 characters or with characters Lambda refuses (``.``) get a digest of
    the group instead of its tail, so two groups never share a name. Raises ``IsolationError``
    when even that does not fit (a stack name over 45 characters).
    """
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", group)
    name = f"{shared_worker}-{slug}"
    if slug == group and len(name) <= FUNCTION_NAME_MAX:
        return name
    keep = FUNCTION_NAME_MAX - len(shared_worker) - 2 - 8
    if keep < 1:
        raise IsolationError(f"The stack name behind {shared_worker!r} is too long for per-DAG worker functions "
                             "(64 characters per function name): use a shorter stack name, or Isolation=shared.")
    return f"{shared_worker}-{slug[:keep]}-{_digest(group)}"


def groups_of(dags: Iterable[DagIsolation]) -> list[IsolationGroup]:
    """The isolation groups of these DAGs, in name order; raises ``IsolationError`` on a bad id."""
    members: dict[str, list[str]] = {}
    policies: dict[str, set[str]] = {}
    assets: dict[str, set[str]] = {}
    for dag in dags:
        _check_id(dag.dag_id)
        group = isolation_group(dag.dag_id, dag.tags)
        _check_id(group, f"Isolation group of DAG {dag.dag_id!r}")
        members.setdefault(group, []).append(dag.dag_id)
        assets.setdefault(group, set()).update(u for u in dag.assets if "*" not in u and "?" not in u)
        for tag in dag.tags:
            if isinstance(tag, str) and tag.startswith(TASK_POLICY_TAG):
                arn = tag[len(TASK_POLICY_TAG):].strip()
                if not arn.startswith("arn:"):
                    raise IsolationError(f"DAG {dag.dag_id!r}: tag {tag!r} must name a managed policy ARN "
                                         "(stratus:task-policy=arn:aws:iam::123456789012:policy/my-task-policy).")
                policies.setdefault(group, set()).add(arn)
    return [IsolationGroup(g, tuple(sorted(ids)), tuple(sorted(policies.get(g, ()))), tuple(sorted(assets.get(g, ()))))
            for g, ids in sorted(members.items())]


def groups_in_folder(dags_root: str) -> list[IsolationGroup]:
    """The isolation groups of the DAGs in a folder (DAG files that fail to import have none)."""
    from orchestrator.plan.loader import DagBag

    bag = DagBag(str(dags_root))
    return groups_of(DagIsolation(dag_id, list(getattr(dag, "tags", None) or []), _declared_assets(dag))
                     for dag_id, dag in bag.dags.items())


def _declared_assets(dag: Any) -> list[str]:
    uris = set()
    for task in getattr(dag, "tasks", []) or []:
        for asset in [*(getattr(task, "inlets", None) or []), *(getattr(task, "outlets", None) or [])]:
            uri = getattr(asset, "uri", None)
            if isinstance(uri, str) and uri:
                uris.add(uri)
    return sorted(uris)


def leading_keys(dag_id: str) -> list[str]:
    """The partition keys of ``dag_id``'s items in the run table (``store.dynamo``'s layout)."""
    return [f"DAG#{dag_id}", f"RUN#{dag_id}#*"]


# ---------------------------------------------------------------- policies
class _Literal:
    """ARNs as plain strings (tests, and the IAM check on a deployed stack)."""

    def __init__(self, *, table_arn: str, artefact_bucket_arn: str, region: str, account: str, partition: str) -> None:
        self.table_arn, self.bucket, self.region, self.account, self.partition = (
            table_arn, artefact_bucket_arn, region, account, partition)

    def table(self) -> Any:
        return self.table_arn

    def artefact(self, path: str) -> Any:
        return f"{self.bucket}/{path}"

    def arn(self, service: str, resource: str) -> Any:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


class _Template:
    """ARNs as CloudFormation intrinsics on template.yaml's resources."""

    def table(self) -> Any:
        return {"Fn::GetAtt": ["RunTable", "Arn"]}

    def artefact(self, path: str) -> Any:
        return {"Fn::Sub": f"${{ArtefactBucket.Arn}}/{path}"}

    def arn(self, service: str, resource: str) -> Any:
        return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def _own_statements(dag_ids: tuple[str, ...], arns: Any) -> list[dict[str, Any]]:
    keys = [k for d in dag_ids for k in leading_keys(d)]
    return [
        {"Sid": "OwnRunItems", "Effect": "Allow", "Action": ITEM_ACTIONS, "Resource": arns.table(),
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}},
        {"Sid": "OwnOutputs", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [arns.artefact(f"xcom/{d}/*") for d in dag_ids]},
        {"Sid": "OwnPlans", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [arns.artefact(f"plans/{d}/*") for d in dag_ids]},
        {"Sid": "OwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": [arns.arn("secretsmanager", f"secret:stratus/dags/{d}/*") for d in dag_ids]},
        {"Sid": "OwnParameters", "Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": [arns.arn("ssm", f"parameter/stratus/dags/{d}/*") for d in dag_ids]},
    ]


def dag_worker_policy(
    dag_id: str, *, table_arn: str, artefact_bucket_arn: str, region: str, account: str, partition: str = "aws",
) -> dict[str, Any]:
    """The DAG-scoped part of DAG ``dag_id``'s worker role (run store, S3, secrets), plain ARNs."""
    try:
        _check_id(dag_id)
    except IsolationError as exc:
        raise StratusError(str(exc)) from None
    arns = _Literal(table_arn=table_arn, artefact_bucket_arn=artefact_bucket_arn, region=region, account=account,
                    partition=partition)
    return {"Version": "2012-10-17", "Statement": _own_statements((dag_id,), arns)}


def worker_role_policy(group: IsolationGroup, function_name: str) -> dict[str, Any]:
    """The whole inline policy of ``group``'s worker role, as template intrinsics."""
    t = _Template()
    shared = [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": {"Fn::Sub": "${WorkerLogGroup.Arn}"}},
        {"Sid": "Tracing", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
        # Asset events are read by every consumer DAG (inlet events, triggering events): read-only;
        # the state store of the assets its tasks declare (inlets, outlets) is writable (OwnAssetState).
        {"Sid": "ReadAssetEvents", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
         "Resource": t.table(), "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ASSET#*"]}}},
        *([{"Sid": "OwnAssetState", "Effect": "Allow", "Action": ITEM_ACTIONS, "Resource": t.table(),
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"ASSET#{u}" for u in group.assets]}}}]
          if group.assets else []),
        {"Sid": "ReadLanding", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": {"Fn::Sub": "${LandingBucket.Arn}/*"}},
        # Variables are Airflow-global: readable by every DAG, written only by people (`stratus variables`).
        {"Sid": "ReadVariables", "Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": t.arn("ssm", "parameter/stratus/variables/*")},
        # Dispatch of this DAG's next tasks: only its own function.
        {"Sid": "Dispatch", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": t.arn("lambda", f"function:{function_name}")},
        # What crosses DAGs (outlet asset events, TriggerDagRunOperator) is asked of the requests
        # function, which serves nothing else and checks each request against this DAG's plan. Not
        # the trigger function: a worker invoking it could send schedule fires or asset events
        # in another DAG's name.
        {"Sid": "CrossDagRequests", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": t.arn("lambda", "function:${AWS::StackName}-requests")},
        # Lambda sends this function's OnFailure records with this role; the conductor checks
        # each record's sender is the worker of the DAG it names.
        {"Sid": "RetryTimers", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": [{"Fn::GetAtt": ["RetryQueue", "Arn"]}, {"Fn::GetAtt": ["FailureQueue", "Arn"]}]},
        # Retry timers: their own group and role (TimerRole invokes the conductor only), so that
        # a task cannot make a schedule fire the trigger in another DAG's name, or drop DAG schedules.
        {"Sid": "LongRetryTimers", "Effect": "Allow", "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"],
         "Resource": t.arn("scheduler", "schedule/${AWS::StackName}-timers/*")},
        {"Sid": "ConductorArn", "Effect": "Allow", "Action": ["lambda:GetFunction"],
         "Resource": t.arn("lambda", "function:${AWS::StackName}-conductor")},
        {"Sid": "PassTimerRole", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": {"Fn::GetAtt": ["TimerRole", "Arn"]}},
    ]
    return {"Version": "2012-10-17", "Statement": _own_statements(group.dag_ids, t) + shared}


# ---------------------------------------------------------------- the template
def mode_of(sam: Mapping[str, Any], parameters: Mapping[str, str] | None) -> str:
    """The ``Isolation`` parameter's value (override, else the template's default, else shared)."""
    value = (parameters or {}).get(PARAMETER)
    if value is None:
        value = sam.get("Parameters", {}).get(PARAMETER, {}).get("Default", "shared")
    if value not in MODES:
        raise IsolationError(f"Isolation={value!r}: use 'dag' (one worker function and role per DAG) or 'shared'.")
    return str(value)


def expand_template(sam: dict[str, Any], groups: list[IsolationGroup], *, stack_name: str,
                    parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """template.yaml (parsed) plus one worker function and role per group, when ``Isolation=dag``.

    The functions copy ``WorkerFunction``'s properties (code, timeout, memory, log group, event
    invoke configuration with the failure queue), with their own name and role. Returns a new
    dict; with ``Isolation=shared`` the template unchanged. Raises ``IsolationError`` past
    ``MAX_GROUPS`` groups.
    """
    if mode_of(sam, parameters) != "dag":
        return sam
    if len(groups) > MAX_GROUPS:
        raise IsolationError(
            f"{len(groups)} isolation groups need {SHARED_RESOURCES_MAX + RESOURCES_PER_GROUP * len(groups)} "
            f"CloudFormation resources; one stack holds {CFN_MAX_RESOURCES} ({SHARED_RESOURCES_MAX} shared + "
            f"{RESOURCES_PER_GROUP} per group), so at most {MAX_GROUPS} groups. Put DAGs that may share a role in "
            f"one group (tag '{GROUP_TAG}<group>'), split the DAGs over several stacks, or deploy with "
            f"--parameter {PARAMETER}=shared (one shared worker).")
    out = copy.deepcopy(sam)
    resources = out["Resources"]
    worker = resources.get("WorkerFunction")
    if worker is None:
        raise IsolationError("template.yaml has no WorkerFunction to copy the per-DAG workers from.")
    shared_name = f"{stack_name}-worker"
    for group in groups:
        stem = group.logical_stem
        name = worker_function_name(shared_name, group.name)
        props = copy.deepcopy(worker.get("Properties", {}))
        props.update({
            "FunctionName": name,
            "Description": f"Runs the tasks of {', '.join(group.dag_ids)}"[:256],
            "Role": {"Fn::GetAtt": [f"{stem}Role", "Arn"]},
        })
        resources[f"{stem}Function"] = {"Type": "AWS::Serverless::Function", "Properties": props,
                                         "Metadata": {METADATA_KEY: group.name}}
        managed: Any = {"Fn::If": ["HasTaskPolicy", [{"Ref": "TaskPolicyArn"}], {"Ref": "AWS::NoValue"}]}
        if group.task_policies:
            managed = {"Fn::If": ["HasTaskPolicy", [{"Ref": "TaskPolicyArn"}, *group.task_policies],
                                  list(group.task_policies)]}
        policy = worker_role_policy(group, name)
        _check_policy_size(group, policy, stack_name)
        resources[f"{stem}Role"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": managed,
                "Policies": [{"PolicyName": "stratus-dag-worker", "PolicyDocument": policy}],
            },
        }
    env = out.setdefault("Globals", {}).setdefault("Function", {}).setdefault("Environment", {})
    env.setdefault("Variables", {})[ENV_ISOLATION] = "dag"
    out.setdefault("Outputs", {})[OUTPUT_KEY] = {
        "Description": "Per-DAG isolation: each DAG's tasks run in their own worker function and role.",
        "Value": "dag",
    }
    return out


# ---------------------------------------------------------------- policy size
# The longest value each pseudo parameter can take on AWS (a region of the isolated partitions
# is 15 characters, ``us-isof-south-1``): a policy within the bound fits on any account.
_LONGEST = {"AWS::Partition": "aws-iso-b", "AWS::Region": "x" * 15, "AWS::AccountId": "0" * 12,
            "AWS::URLSuffix": "amazonaws.com"}
_GENERATED_SUFFIX = 14  # CloudFormation's "-<13 random characters>" after "<stack>-<logical id>"


def policy_chars_bound(document: Any, stack_name: str) -> int:
    """The most characters (white space not counted, as IAM counts) ``document`` can take once
    CloudFormation resolves its intrinsics, on any account, region and partition."""
    import json

    text = json.dumps(_longest(document, stack_name), separators=(",", ":"))
    return len(re.sub(r"\s", "", text))


def _arn_bound(logical_id: str, stack_name: str) -> str:
    # arn:<partition>:<service>:<region>:<account>:<type>/<generated name> (services and types
    # here are at most "dynamodb" and "log-group:/aws/lambda/"); names at most 255 characters.
    name = min(255, len(stack_name) + 1 + len(logical_id) + _GENERATED_SUFFIX)
    return "x" * (len("arn:aws-iso-b:dynamodb:") + 15 + 1 + 12 + 1 + len("log-group:/aws/lambda/") + name + 2)


def _longest(value: Any, stack_name: str) -> Any:
    if isinstance(value, list):
        return [_longest(v, stack_name) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::GetAtt":
            return _arn_bound(str(arg[0] if isinstance(arg, list) else str(arg).split(".")[0]), stack_name)
        if key == "Ref":
            return _LONGEST.get(arg, stack_name if arg == "AWS::StackName" else _arn_bound(str(arg), stack_name))
        if key == "Fn::Sub" and isinstance(arg, str):
            def sub(m: re.Match[str]) -> str:
                ref = m.group(1)
                if ref == "AWS::StackName":
                    return stack_name
                if ref in _LONGEST:
                    return _LONGEST[ref]
                return _arn_bound(ref.split(".")[0], stack_name)
            return re.sub(r"\$\{([^}!][^}]*)\}", sub, arg)
    return {k: _longest(v, stack_name) for k, v in value.items()}


def _check_policy_size(group: IsolationGroup, policy: dict[str, Any], stack_name: str) -> None:
    size = policy_chars_bound(policy, stack_name)
    if size <= ROLE_POLICY_MAX_CHARS:
        return
    what = f"DAG '{group.dag_ids[0]}'" if len(group.dag_ids) == 1 else f"isolation group '{group.name}' ({len(group.dag_ids)} DAGs)"
    raise IsolationError(
        f"The worker role of {what} needs an inline policy of up to {size:,} characters (its DAGs' run items, "
        f"outputs, plans, secrets and parameters, and the {len(group.assets)} asset(s) its tasks declare as "
        f"inlets or outlets); IAM allows {ROLE_POLICY_MAX_CHARS:,} per role, so CloudFormation would fail the "
        f"deploy with LimitExceeded. Split the group (fewer DAGs under one '{GROUP_TAG}<group>' tag), declare "
        f"fewer distinct assets on its tasks, or deploy with --parameter {PARAMETER}=shared (one shared worker).")
