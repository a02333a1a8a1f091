"""The local cloud's IAM check: every AWS call a handler makes is authorised against its role.

moto enforces no IAM, so a handler that calls what its role does not allow passes every local
test and fails on AWS. While a ``FunctionHost`` runs a handler, ``CALLER`` names the function;
``install()`` wraps ``botocore.client.BaseClient._make_api_call`` so that each call made in that
context is turned into the IAM requests AWS would authorise (``requests_for``) and evaluated
against the function's role as deployed (``IamCheck.from_stack`` reads the role's inline and
managed policies back from moto's IAM: the template's policies with the stack's ARNs resolved,
SAM policy templates expanded by the translator)::

    TransactWriteItems [Put, Update, Delete]  ->  dynamodb:PutItem    table/T  (LeadingKeys = pk)
                                                  dynamodb:UpdateItem table/T
                                                  dynamodb:DeleteItem table/T
    scheduler CreateSchedule(Target.RoleArn=R) ->  scheduler:CreateSchedule schedule/G/N
                                                  iam:PassRole R (iam:PassedToService)

A denied call raises ``AccessDeniedException`` in the handler, as AWS would, and is recorded
in ``IamCheck.denials`` (the test suite fails on any denial it did not expect). Decisions are
cached per (role, action, resource, condition context). The per-DAG worker roles are plain
function roles, so they are checked the same way.

The evaluator is moto's (``moto.iam.access_control.IAMPolicyStatement``: Action/NotAction,
Resource, Effect), with three corrections moto lacks: ``?`` wildcards and regex characters in
patterns, case-insensitive actions, and ``NotResource``. Conditions are evaluated here (moto
evaluates only ``StringEquals`` and treats an Allow whose condition fails as a Deny): the
operators below, ``ForAllValues:``/``ForAnyValue:`` and ``...IfExists``; an operator not
listed fails the call loudly instead of being ignored. Context keys supplied: the ones the
stack's policies use (``dynamodb:LeadingKeys``, ``iam:PassedToService``, ``s3:prefix``).
Not modelled: permission boundaries, SCPs, resource policies of the callee (bucket and queue
policies are checked by moto where it does), session policies (see docs/aws-vs-local.md).
"""

from __future__ import annotations

import ast
import contextvars
import fnmatch
import json
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from orchestrator.errors import StratusError

# (check, function name) of the handler running in this context; None outside handlers.
CALLER: contextvars.ContextVar[tuple[IamCheck, str] | None] = contextvars.ContextVar("stratus_iam_caller", default=None)

_INSTALL_LOCK = threading.Lock()
_ORIGINAL: dict[str, Any] = {}
_LIVE: weakref.WeakSet[IamCheck] = weakref.WeakSet()  # every check of this process (tests collect denials)


class IamCheckError(StratusError):
    """The check cannot evaluate a call or a policy (an unmapped operation, an unknown operator)."""


@dataclass(frozen=True)
class Access:
    """One IAM request AWS authorises for an API call: action, resource ARN, condition context."""

    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def context_dict(self) -> dict[str, tuple[str, ...]]:
        return dict(self.context)


@dataclass(frozen=True)
class Denial:
    """A call AWS would refuse: which function, its role, the action, the resource."""

    function: str
    role: str
    action: str
    resource: str
    operation: str
    reason: str = "no identity-based policy allows it"

    def __str__(self) -> str:
        return (
            f"function {self.function!r} (role {self.role!r}) may not {self.action} on {self.resource} "
            f"(call {self.operation}): {self.reason}. Grant it in template.yaml or stop making the call."
        )


# ---------------------------------------------------------------------------------------------
# API call -> IAM requests
def _ctx(**values: Iterable[str] | str | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    items = []
    for key, value in values.items():
        if value is None:
            continue
        vals = (value,) if isinstance(value, str) else tuple(value)
        items.append((key.replace("__", ":"), vals))
    return tuple(sorted(items))


def _scalar(attr: Any) -> str | None:
    """The string of a DynamoDB key attribute value ({"S": "x"} / {"N": "1"} / {"B": ...})."""
    if isinstance(attr, dict) and len(attr) == 1:
        (kind, value), = attr.items()
        if kind in ("S", "N"):
            return str(value)
        if kind == "B":
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


@dataclass
class _Dynamo:
    region: str
    account: str
    hash_keys: Mapping[str, str]  # table name -> partition key attribute name

    def table_arn(self, table: str, index: str | None = None) -> str:
        if table.startswith("arn:"):
            base = table
        else:
            base = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{table}"
        return f"{base}/index/{index}" if index else base

    def leading(self, table: str, item_or_key: Mapping[str, Any] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
        attr = self.hash_keys.get(table.rsplit("/", 1)[-1])
        if attr is None or not item_or_key:
            return ()
        value = _scalar(item_or_key.get(attr))
        return _ctx(dynamodb__LeadingKeys=value) if value is not None else ()

    def query_leading(self, table: str, params: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """dynamodb:LeadingKeys of a Query: the value its key condition gives the partition key."""
        attr = self.hash_keys.get(table.rsplit("/", 1)[-1])
        expr = params.get("KeyConditionExpression")
        if attr is None or not isinstance(expr, str) or params.get("IndexName"):
            return ()
        names = params.get("ExpressionAttributeNames") or {}
        values = params.get("ExpressionAttributeValues") or {}
        for clause in re.split(r"\s+(?i:and)\s+", expr):
            m = re.fullmatch(r"\s*(#?[\w.]+)\s*=\s*(:\w+)\s*", clause)
            if m and names.get(m.group(1), m.group(1)) == attr:
                value = _scalar(values.get(m.group(2)))
                if value is not None:
                    return _ctx(dynamodb__LeadingKeys=value)
        return ()


_DYNAMO_ITEM_OPS = {"GetItem": "Key", "PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
_TRANSACT_KINDS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(op: str, p: Mapping[str, Any], d: _Dynamo) -> list[Access]:
    if op in _DYNAMO_ITEM_OPS:
        table = p["TableName"]
        return [Access(f"dynamodb:{op}", d.table_arn(table), d.leading(table, p.get(_DYNAMO_ITEM_OPS[op])))]
    if op in ("Query", "Scan"):
        table = p["TableName"]
        ctx = d.query_leading(table, p) if op == "Query" else ()
        return [Access(f"dynamodb:{op}", d.table_arn(table, p.get("IndexName")), ctx)]
    if op == "TransactWriteItems":
        out = []
        for item in p.get("TransactItems", []):
            (kind, body), = item.items()
            key = body.get("Item") if kind == "Put" else body.get("Key")
            out.append(Access(f"dynamodb:{_TRANSACT_KINDS[kind]}", d.table_arn(body["TableName"]), d.leading(body["TableName"], key)))
        return out
    if op == "TransactGetItems":
        return [
            Access("dynamodb:GetItem", d.table_arn(i["Get"]["TableName"]), d.leading(i["Get"]["TableName"], i["Get"].get("Key")))
            for i in p.get("TransactItems", [])
        ]
    if op == "BatchGetItem":
        return [
            Access("dynamodb:BatchGetItem", d.table_arn(table), d.leading(table, key))
            for table, spec in p.get("RequestItems", {}).items()
            for key in spec.get("Keys", [])
        ]
    if op == "BatchWriteItem":
        out = []
        for table, requests in p.get("RequestItems", {}).items():
            for req in requests:
                key = req.get("PutRequest", {}).get("Item") or req.get("DeleteRequest", {}).get("Key")
                out.append(Access("dynamodb:BatchWriteItem", d.table_arn(table), d.leading(table, key)))
        return out
    if op in ("DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive", "ListTagsOfResource"):
        return [Access(f"dynamodb:{op}", d.table_arn(p.get("TableName") or p.get("ResourceArn", "")))]
    if op == "ListTables":
        return [Access("dynamodb:ListTables", "*")]
    raise IamCheckError(f"no IAM mapping for dynamodb {op}")


def _s3(op: str, p: Mapping[str, Any]) -> list[Access]:
    def obj(bucket: str, key: str) -> str:
        return f"arn:aws:s3:::{bucket}/{key}"

    simple = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
              "DeleteObject": "s3:DeleteObject", "GetObjectTagging": "s3:GetObjectTagging",
              "PutObjectTagging": "s3:PutObjectTagging", "CreateMultipartUpload": "s3:PutObject",
              "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
              "AbortMultipartUpload": "s3:AbortMultipartUpload"}
    if op in simple:
        return [Access(simple[op], obj(p["Bucket"], p["Key"]))]
    if op in ("ListObjectsV2", "ListObjects"):
        return [Access("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", _ctx(s3__prefix=p.get("Prefix", "")))]
    if op == "DeleteObjects":
        return [Access("s3:DeleteObject", obj(p["Bucket"], o["Key"])) for o in p.get("Delete", {}).get("Objects", [])]
    if op == "CopyObject":
        src = p["CopySource"]
        if isinstance(src, dict):
            source = f"arn:aws:s3:::{src['Bucket']}/{src['Key']}"
        else:
            source = "arn:aws:s3:::" + unquote(str(src).lstrip("/").split("?", 1)[0])
        return [Access("s3:GetObject", source), Access("s3:PutObject", obj(p["Bucket"], p["Key"]))]
    if op in ("HeadBucket", "GetBucketLocation"):
        return [Access("s3:ListBucket" if op == "HeadBucket" else "s3:GetBucketLocation", f"arn:aws:s3:::{p['Bucket']}")]
    raise IamCheckError(f"no IAM mapping for s3 {op}")


def _function_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        parts = name.split(":")
        return ":".join(parts[:7])  # a qualified ARN is authorised on the function
    if ":" in name:  # "account:function:name" or "name:qualifier"
        pieces = name.split(":")
        name = pieces[2] if len(pieces) >= 3 and pieces[1] == "function" else pieces[0]
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _lambda(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    actions = {"Invoke": "lambda:InvokeFunction", "InvokeAsync": "lambda:InvokeFunction",
               "GetFunction": "lambda:GetFunction", "GetFunctionConfiguration": "lambda:GetFunctionConfiguration"}
    if op in actions:
        return [Access(actions[op], _function_arn(p["FunctionName"], region, account))]
    raise IamCheckError(f"no IAM mapping for lambda {op}")


def _queue_arn(url_or_name: str, region: str, account: str) -> str:
    if url_or_name.startswith("arn:"):
        return url_or_name
    if "://" in url_or_name:
        parts = [x for x in urlsplit(url_or_name).path.split("/") if x]
        acct, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (account, parts[-1])
        return f"arn:aws:sqs:{region}:{acct}:{name}"
    return f"arn:aws:sqs:{region}:{account}:{url_or_name}"


def _sqs(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    actions = {"SendMessage": "sqs:SendMessage", "SendMessageBatch": "sqs:SendMessage",
               "ReceiveMessage": "sqs:ReceiveMessage", "DeleteMessage": "sqs:DeleteMessage",
               "DeleteMessageBatch": "sqs:DeleteMessage", "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
               "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
               "GetQueueAttributes": "sqs:GetQueueAttributes", "PurgeQueue": "sqs:PurgeQueue"}
    if op in actions:
        return [Access(actions[op], _queue_arn(p["QueueUrl"], region, account))]
    if op == "GetQueueUrl":
        return [Access("sqs:GetQueueUrl", _queue_arn(p["QueueName"], region, p.get("QueueOwnerAWSAccountId", account)))]
    raise IamCheckError(f"no IAM mapping for sqs {op}")


def _scheduler(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    base = f"arn:aws:scheduler:{region}:{account}"
    if op in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"):
        out = [Access(f"scheduler:{op}", f"{base}:schedule/{p.get('GroupName') or 'default'}/{p['Name']}")]
        role = (p.get("Target") or {}).get("RoleArn")
        if op in ("CreateSchedule", "UpdateSchedule") and role:
            # Scheduler assumes the target role: the caller must be allowed to pass it.
            out.append(Access("iam:PassRole", role, _ctx(iam__PassedToService="scheduler.amazonaws.com")))
        return out
    if op in ("GetScheduleGroup", "CreateScheduleGroup", "DeleteScheduleGroup"):
        return [Access(f"scheduler:{op}", f"{base}:schedule-group/{p['Name']}")]
    if op in ("ListSchedules", "ListScheduleGroups"):
        return [Access(f"scheduler:{op}", "*")]
    raise IamCheckError(f"no IAM mapping for scheduler {op}")


def _ssm_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{region}:{account}:parameter" + (name if name.startswith("/") else "/" + name)


def _ssm(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    if op in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory"):
        return [Access(f"ssm:{op}", _ssm_arn(p["Name"], region, account))]
    if op in ("GetParameters", "DeleteParameters"):
        return [Access(f"ssm:{op}", _ssm_arn(n, region, account)) for n in p["Names"]]
    if op == "GetParametersByPath":
        return [Access("ssm:GetParametersByPath", _ssm_arn(p["Path"], region, account))]
    if op == "DescribeParameters":
        return [Access("ssm:DescribeParameters", "*")]
    raise IamCheckError(f"no IAM mapping for ssm {op}")


def _secretsmanager(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    if op in ("GetSecretValue", "DescribeSecret", "PutSecretValue"):
        sid = p["SecretId"]
        # A name resolves to the secret's ARN, which ends in "-" and six random characters.
        arn = sid if sid.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{sid}-AbCdEf"
        return [Access(f"secretsmanager:{op}", arn)]
    if op == "ListSecrets":
        return [Access("secretsmanager:ListSecrets", "*")]
    raise IamCheckError(f"no IAM mapping for secretsmanager {op}")


def _logs(op: str, p: Mapping[str, Any], region: str, account: str) -> list[Access]:
    group = p.get("logGroupName") or p.get("logGroupIdentifier", "")
    base = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    if op in ("PutLogEvents", "CreateLogStream", "GetLogEvents"):
        return [Access(f"logs:{op}", f"{base}:log-stream:{p.get('logStreamName', '')}")]
    if op in ("FilterLogEvents", "DescribeLogStreams", "CreateLogGroup"):
        return [Access(f"logs:{op}", f"{base}:*")]
    if op == "DescribeLogGroups":
        return [Access("logs:DescribeLogGroups", "*")]
    raise IamCheckError(f"no IAM mapping for logs {op}")


def requests_for(
    service: str, operation: str, params: Mapping[str, Any], *, region: str, account: str,
    hash_keys: Mapping[str, str] | None = None,
) -> list[Access]:
    """The IAM requests AWS authorises for one API call (every item of a transaction or batch)."""
    if service == "dynamodb":
        return _dynamodb(operation, params, _Dynamo(region, account, hash_keys or {}))
    if service == "s3":
        return _s3(operation, params)
    if service == "lambda":
        return _lambda(operation, params, region, account)
    if service == "sqs":
        return _sqs(operation, params, region, account)
    if service == "scheduler":
        return _scheduler(operation, params, region, account)
    if service == "ssm":
        return _ssm(operation, params, region, account)
    if service == "secretsmanager":
        return _secretsmanager(operation, params, region, account)
    if service == "logs":
        return _logs(operation, params, region, account)
    if service == "cloudwatch" and operation in ("PutMetricData", "GetMetricData", "PutDashboard", "GetDashboard"):
        if operation in ("PutDashboard", "GetDashboard"):
            name = params.get("DashboardName", "")
            return [Access(f"cloudwatch:{operation}", f"arn:aws:cloudwatch::{account}:dashboard/{name}")]
        return [Access(f"cloudwatch:{operation}", "*", _ctx(cloudwatch__namespace=params.get("Namespace")))]
    if service == "cloudformation" and operation in ("DescribeStacks", "DescribeStackResources"):
        stack = params.get("StackName", "*")
        arn = stack if stack.startswith("arn:") else f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/*"
        return [Access(f"cloudformation:{operation}", arn)]
    if service == "events" and operation == "PutEvents":
        return [
            Access("events:PutEvents", e.get("EventBusName", "").startswith("arn:") and e["EventBusName"]
                   or f"arn:aws:events:{region}:{account}:event-bus/{e.get('EventBusName') or 'default'}")
            for e in params.get("Entries", [])
        ]
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    if service == "xray" and operation in ("PutTraceSegments", "PutTelemetryRecords"):
        return [Access(f"xray:{operation}", "*")]
    raise IamCheckError(f"no IAM mapping for {service} {operation}")


# ---------------------------------------------------------------------------------------------
# policy evaluation (moto's statement matcher, conditions here)
def _statement_class() -> type:
    from moto.iam.access_control import IAMPolicyStatement

    class Statement(IAMPolicyStatement):  # type: ignore[misc]
        """moto's statement, with IAM's glob (``*``, ``?``, nothing else special) and
        case-insensitive actions."""

        def _check_element_matches(self, statement_element: Any, value: str) -> bool:
            patterns = self._statement[statement_element]
            patterns = patterns if isinstance(patterns, list) else [patterns]
            fold = statement_element in ("Action", "NotAction")
            return any(_glob(pattern, value, fold) for pattern in patterns)

    return Statement


def _glob(pattern: str, value: str, fold: bool = False) -> bool:
    if fold:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _str_eq(expected: str, actual: str) -> bool:
    return expected == actual


def _str_eq_ic(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _str_like(expected: str, actual: str) -> bool:
    return _glob(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


_OPERATORS = {
    "StringEquals": (_str_eq, False),
    "StringNotEquals": (_str_eq, True),
    "StringEqualsIgnoreCase": (_str_eq_ic, False),
    "StringNotEqualsIgnoreCase": (_str_eq_ic, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "ArnEquals": (_str_like, False),
    "ArnLike": (_str_like, False),
    "ArnNotEquals": (_str_like, True),
    "ArnNotLike": (_str_like, True),
    "Bool": (_bool, False),
}


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, tuple[str, ...]]) -> bool:
    """IAM's Condition block over a request context (key -> values); raises for unknown operators."""
    lowered = {k.lower(): v for k, v in context.items()}
    for raw_op, keys in condition.items():
        qualifier, _, op = raw_op.rpartition(":")
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        for key, expected in keys.items():
            values = lowered.get(key.lower())
            wanted = [str(e) for e in (expected if isinstance(expected, list) else [expected])]
            if any("${" in w for w in wanted):
                raise IamCheckError(f"policy variable in condition {raw_op} {key}: not evaluated locally")
            if base == "Null":
                is_null = not values
                if any(_bool(w, "true" if is_null else "false") for w in wanted):
                    continue
                return False
            if base not in _OPERATORS:
                raise IamCheckError(f"condition operator {raw_op!r} is not evaluated by the local IAM check")
            match, negated = _OPERATORS[base]
            if not values:
                if qualifier == "ForAllValues" or if_exists or negated:
                    continue
                return False

            def one(actual: str) -> bool:
                hit = any(match(w, actual) for w in wanted)
                return not hit if negated else hit

            if qualifier == "ForAnyValue":
                ok = any(one(v) for v in values)
            else:  # ForAllValues, or a single-valued operator: every value must satisfy it
                ok = all(one(v) for v in values)
            if not ok:
                return False
    return True


@dataclass
class RolePolicies:
    """The identity policies of one role, evaluated as IAM does (explicit Deny wins)."""

    name: str
    documents: list[dict[str, Any]]
    _statements: list[tuple[Any, dict[str, Any]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        statement_cls = _statement_class()
        for doc in self.documents:
            statements = doc.get("Statement", [])
            for stmt in statements if isinstance(statements, list) else [statements]:
                if "Resource" not in stmt and "NotResource" not in stmt:
                    raise IamCheckError(f"role {self.name!r}: a statement without Resource or NotResource: {stmt}")
                base = {k: v for k, v in stmt.items() if k not in ("Condition", "NotResource")}
                if "NotResource" in stmt:
                    base["Resource"] = "*"
                self._statements.append((statement_cls(base), stmt))
        self._conditional = any("Condition" in s for _, s in self._statements)

    @property
    def has_conditions(self) -> bool:
        return self._conditional


    def decide(self, action: str, resource: str, context: Mapping[str, tuple[str, ...]]) -> str:
        """"allow", "deny" (an explicit Deny applies) or "implicit" (nothing allows it)."""
        from moto.iam.access_control import PermissionResult

        allowed = False
        for matcher, stmt in self._statements:
            result = matcher.is_action_permitted(action, resource)
            if result == PermissionResult.NEUTRAL:
                continue
            if "NotResource" in stmt and _matches_list(stmt["NotResource"], resource):
                continue
            if "Condition" in stmt and not conditions_hold(stmt["Condition"], context):
                continue
            if stmt.get("Effect") == "Deny":
                return "deny"
            allowed = True
        return "allow" if allowed else "implicit"


def _matches_list(patterns: Any, value: str) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(_glob(p, value) for p in patterns)


# ---------------------------------------------------------------------------------------------
class IamCheck:
    """Roles per function and the decisions taken; ``authorize`` is called for each handler call."""

    def __init__(
        self,
        roles: Mapping[str, RolePolicies],
        *,
        account: str,
        hash_keys: Mapping[str, str] | None = None,
        enforce: bool = True,
    ) -> None:
        self.roles = dict(roles)  # function name -> its role's policies
        self.account = account
        self.hash_keys = dict(hash_keys or {})
        self.enforce = enforce
        self.denials: list[Denial] = []
        self.calls: Counter[str] = Counter()  # calls authorised per function (tests show coverage)
        self._cache: dict[tuple[str, str, str, Any], str] = {}
        self._other_roles: dict[str, RolePolicies] = {}  # roles no function runs as (authorize_role)
        self._lock = threading.Lock()
        _LIVE.add(self)

    @classmethod
    def from_stack(
        cls, clients: Any, functions: Mapping[str, str], *, account: str, hash_keys: Mapping[str, str] | None = None,
        managed: Mapping[str, list[str]] | None = None,
    ) -> IamCheck:
        """Read each function's role (``functions``: name -> role ARN) back from moto's IAM.

        ``managed`` (role name -> ManagedPolicyArns, resolved) adds the managed policies moto's
        CloudFormation does not attach: AWS managed ones (the translator's
        AWSLambdaBasicExecutionRole, AWSLambdaSQSQueueExecutionRole, ...) from moto's copy of
        their documents, the account's own from moto's IAM (the deploy fails if one is missing).
        """
        documents = role_documents(clients, functions.values(), managed=managed)
        return cls.from_documents(functions, documents, account=account, hash_keys=hash_keys)

    @classmethod
    def from_documents(
        cls, functions: Mapping[str, str], documents: Mapping[str, list[dict[str, Any]]], *, account: str,
        hash_keys: Mapping[str, str] | None = None,
    ) -> IamCheck:
        """The check for ``functions`` (name -> role ARN) from ``role_documents``' answer (role name -> documents)."""
        by_role: dict[str, RolePolicies] = {}
        roles: dict[str, RolePolicies] = {}
        for function, role_arn in functions.items():
            role_name = role_arn.rsplit("/", 1)[-1]
            if role_name not in by_role:
                by_role[role_name] = RolePolicies(role_name, list(documents[role_name]))
            roles[function] = by_role[role_name]
        return cls(roles, account=account, hash_keys=hash_keys)

    def authorize_role(self, role_arn: str, operation: str, access: Access, *, caller: str,
                       documents: Callable[[str], list[dict[str, Any]]]) -> Denial | None:
        """Evaluate one request made *with a role* no function runs as (the role a schedule's
        target runs with): record and return the denial, None when allowed. ``documents``
        reads a role's policies by name (once per role; moto's IAM, in the local cloud)."""
        name = role_arn.rsplit("/", 1)[-1]
        with self._lock:
            role = self._other_roles.get(name)
        if role is None:
            role = RolePolicies(name, documents(role_arn))
            with self._lock:
                self._other_roles[name] = role
        decision = role.decide(access.action, access.resource, access.context_dict())
        if decision == "allow":
            return None
        denial = Denial(caller, name, access.action, access.resource, operation,
                        "an explicit Deny applies" if decision == "deny" else "no identity-based policy allows it")
        with self._lock:
            self.denials.append(denial)
        return denial

    def forget(self) -> None:
        """Drop the cached decisions (a role's policies changed)."""
        with self._lock:
            self._cache.clear()
            self._other_roles.clear()

    def decide(self, function: str, access: Access) -> str:
        role = self.roles.get(function)
        if role is None:
            raise IamCheckError(f"function {function!r} has no role known to the local IAM check")
        key = (role.name, access.action, access.resource, access.context if role.has_conditions else None)
        found = self._cache.get(key)
        if found is None:
            found = role.decide(access.action, access.resource, access.context_dict())
            with self._lock:
                self._cache[key] = found
        return found

    def authorize(self, function: str, operation: str, accesses: Iterable[Access]) -> Denial | None:
        """Evaluate every request of one call; record and return the first denial (None: allowed)."""
        self.calls[function] += 1
        for access in accesses:
            decision = self.decide(function, access)
            if decision != "allow":
                denial = Denial(
                    function, self.roles[function].name, access.action, access.resource, operation,
                    "an explicit Deny applies" if decision == "deny" else "no identity-based policy allows it",
                )
                with self._lock:
                    self.denials.append(denial)
                return denial
        return None

    def take_denials(self) -> list[Denial]:
        """The denials so far, cleared (for tests that expect some)."""
        with self._lock:
            found, self.denials = self.denials, []
        return found


def take_all_denials() -> list[Denial]:
    """Denials recorded by every live check of this process, cleared (the test suite's guard)."""
    found: list[Denial] = []
    for check in list(_LIVE):
        found.extend(check.take_denials())
    return found


def role_documents(clients: Any, role_arns: Iterable[str], *,
                   managed: Mapping[str, list[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Role name -> its identity policy documents (inline, attached, ``managed``), read from moto's IAM."""
    iam = clients.client("iam")
    found: dict[str, list[dict[str, Any]]] = {}
    for role_arn in role_arns:
        role_name = role_arn.rsplit("/", 1)[-1]
        if role_name in found:
            continue
        docs: list[dict[str, Any]] = []
        for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            docs.append(_document(iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]))
        attached = [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]
        for arn in dict.fromkeys([*attached, *(managed or {}).get(role_name, [])]):
            docs.append(_managed_document(iam, arn, role_name))
        found[role_name] = docs
    return found


def _managed_document(iam: Any, arn: str, role_name: str) -> dict[str, Any]:
    if arn.startswith("arn:aws:iam::aws:policy/"):
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        known = json.loads(aws_managed_policies_data)
        name = arn.rsplit("/", 1)[-1]
        if name not in known:
            raise IamCheckError(f"role {role_name!r}: AWS managed policy {arn} is unknown to moto's copy")
        return _document(known[name]["Document"])
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except Exception as exc:  # noqa: BLE001 - CloudFormation refuses a role whose policy does not exist
        raise IamCheckError(f"role {role_name!r}: managed policy {arn} does not exist (create it first): {exc}") from exc
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    return _document(version["PolicyVersion"]["Document"])


def _document(doc: Any) -> dict[str, Any]:
    if isinstance(doc, str):
        text = unquote(doc)
        try:
            doc = json.loads(text)
        except ValueError:  # moto's CloudFormation stores an inline policy as a Python repr
            doc = ast.literal_eval(text)
    return dict(doc)


# ---------------------------------------------------------------------------------------------
# the hook on botocore
_SERVICE_PREFIX = {"monitoring": "cloudwatch"}


def _access_denied(denial: Denial, account: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    message = (
        f"User: arn:aws:sts::{account}:assumed-role/{denial.role}/{denial.function} is not authorized to perform: "
        f"{denial.action} on resource: {denial.resource} because {denial.reason} "
        "(Stratus local IAM check, see template.yaml)"
    )
    return ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        operation,
    )


def install() -> None:
    """Wrap botocore's API call so calls made inside a handler are authorised (idempotent).

    Installed once per process and left in place (it does nothing outside a handler): other
    wrappers of the same method (bench/awscount.py) may be installed and removed around it."""
    with _INSTALL_LOCK:
        if _ORIGINAL:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call

        def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            caller = CALLER.get()
            if caller is not None:
                check, function = caller
                meta = self.meta
                service = meta.service_model.service_name
                service = _SERVICE_PREFIX.get(service, service)
                try:
                    # dynamodb:LeadingKeys is worked out only when a role has conditions to test it against
                    keys = check.hash_keys if any(r.has_conditions for r in check.roles.values()) else None
                    accesses = requests_for(service, operation_name, api_params or {}, region=meta.region_name,
                                            account=check.account, hash_keys=keys)
                except IamCheckError as exc:
                    denial = Denial(function, check.roles.get(function, RolePolicies("?", [])).name,
                                    f"{service}:{operation_name}", "?", f"{service}.{operation_name}", str(exc))
                    with check._lock:
                        check.denials.append(denial)
                    raise
                found = check.authorize(function, f"{service}.{operation_name}", accesses)
                if found is not None and check.enforce:
                    raise _access_denied(found, check.account, operation_name)
                result = original(self, operation_name, api_params)
                if service == "sqs" and operation_name == "SendMessage":
                    stamp_sender((api_params or {}).get("QueueUrl", ""), result.get("MessageId"),
                                 sender_id(check.roles.get(function, RolePolicies("?", [])).name, function))
                return result
            return original(self, operation_name, api_params)

        _ORIGINAL["call"] = original
        BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]


def sender_id(role: str, function: str) -> str:
    """SQS's ``SenderId`` of a message a Lambda function sends: its role's id and the session
    name, which Lambda makes the function's name (moto says the account id for every sender)."""
    import hashlib

    return f"AROA{hashlib.sha1(role.encode()).hexdigest()[:17].upper()}:{function}"  # noqa: S324 - an id, not a secret


def stamp_sender(queue_url: str, message_id: Any, sender: str) -> None:
    """Give a message moto holds the ``SenderId`` AWS would have recorded."""
    from moto.sqs.models import sqs_backends

    name = str(queue_url).rstrip("/").rsplit("/", 1)[-1]
    for regions in sqs_backends.values():
        for backend in regions.values():
            queue = backend.queues.get(name)
            for message in getattr(queue, "_messages", []) if queue is not None else []:
                if message.id == message_id:
                    message.sender_id = sender
                    return


def uninstall() -> None:
    with _INSTALL_LOCK:
        if not _ORIGINAL:
            return
        from botocore.client import BaseClient

        BaseClient._make_api_call = _ORIGINAL.pop("call")  # type: ignore[method-assign]


class AsPlatform:
    """A boto3 client whose calls are made by AWS itself, not by the handler that triggers them.

    ``stratus dev`` sends the metrics a handler emits with PutMetricData, standing in for
    Lambda's extraction of EMF log lines (which needs no permission of the function's role).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            return outside(found, *args, **kwargs)

        return call


def outside(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` with no handler identity (the local cloud acting as AWS itself)."""
    token = CALLER.set(None)
    try:
        return fn(*args, **kwargs)
    finally:
        CALLER.reset(token)
