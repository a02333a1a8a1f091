"""What ``stratus deploy`` checks before it builds, and ``stratus destroy``.

``preflight`` runs before ``sam build`` (which takes half a minute) so a deploy that cannot
work fails at once, saying what to do: the SAM CLI, AWS credentials (``sts:GetCallerIdentity``),
a region, and a landing bucket name that matches the buckets the DAGs' S3 Asset schedules
name (objects in any other bucket never start a run). The landing bucket's name comes from
``--parameter LandingBucketName=...``, else ``samconfig.toml``, else the deployed stack's
parameter, else the one bucket the DAGs name (passed to sam and said so).

``stratus destroy --stack NAME`` deletes the stack with ``sam delete``. The run table and the
two buckets have ``DeletionPolicy: Retain`` (your runs and data survive a mistaken delete);
they are listed afterwards, and ``--purge`` empties and deletes them too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import StratusError

# What the deploying principal needs (README "Deploy": the same list).
DEPLOYER_PERMISSIONS = (
    "cloudformation:* on the stack and the SAM transform (CreateChangeSet, ExecuteChangeSet, Describe*, "
    "DeleteStack)",
    "s3: the SAM artefact bucket (--resolve-s3 creates aws-sam-cli-managed-default) and CreateBucket/"
    "PutBucket*/PutEncryptionConfiguration/PutBucketPolicy for the stack's buckets",
    "iam: CreateRole, DeleteRole, PutRolePolicy, DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy, "
    "GetRole, TagRole, PassRole (one role per function, the scheduler role)",
    "lambda: CreateFunction, UpdateFunctionCode/Configuration, DeleteFunction, PublishLayerVersion, "
    "DeleteLayerVersion, AddPermission, PutFunctionEventInvokeConfig, CreateFunctionUrlConfig, Tag*",
    "dynamodb: CreateTable, UpdateTable, DescribeTable, UpdateTimeToLive, TagResource",
    "sqs: CreateQueue, SetQueueAttributes, GetQueueAttributes, DeleteQueue",
    "events/scheduler: PutRule, PutTargets, DeleteRule, RemoveTargets, CreateScheduleGroup, "
    "DeleteScheduleGroup, and CreateSchedule/UpdateSchedule/DeleteSchedule/ListSchedules for `stratus sync`",
    "logs/cloudwatch: CreateLogGroup, PutRetentionPolicy, DeleteLogGroup, PutMetricAlarm, DeleteAlarms, "
    "PutDashboard, DeleteDashboards",
    "sts: GetCallerIdentity (the deploy's first check); dynamodb/s3 read-write on the run table and "
    "artefact bucket for `stratus sync`",
)


@dataclass
class Preflight:
    """What the checks found (printed before the build)."""

    account: str = ""
    arn: str = ""
    region: str = ""
    landing_bucket: str = ""
    landing_source: str = ""
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"checks: AWS account {self.account} ({self.arn}), region {self.region}"]
        if self.landing_bucket:
            out.append(f"        landing bucket {self.landing_bucket} ({self.landing_source})")
        out += [f"        {note}" for note in self.notes]
        return out


def _override(parameters: list[str], key: str) -> str | None:
    for item in parameters:
        name, _, value = item.partition("=")
        if name == key:
            return value
    return None


def _samconfig_parameter(key: str, stack: str) -> str | None:
    """``key`` from ``parameter_overrides`` in samconfig.toml (default env), if that file deploys ``stack``."""
    path = Path.cwd() / "samconfig.toml"
    if not path.is_file():
        return None
    try:
        import tomllib

        data = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    params = data.get("default", {}).get("deploy", {}).get("parameters", {})
    if params.get("stack_name") not in (None, stack):
        return None
    overrides = params.get("parameter_overrides") or ""
    items = overrides if isinstance(overrides, list) else overrides.split()
    for item in items:
        name, _, value = str(item).partition("=")
        if name == key:
            return value.strip('"')
    return None


def asset_buckets(dags: str) -> dict[str, list[str]]:
    """``{bucket: [dag ids]}`` for the buckets the DAGs' S3 Asset *schedules* name (what starts runs)."""
    from orchestrator.triggers.sync import compile_folder

    plans, _ = compile_folder(dags)
    out: dict[str, list[str]] = {}

    def walk(cond: Any, dag_id: str) -> None:
        if cond is None:
            return
        if cond.uri and cond.uri.startswith("s3://"):
            bucket = cond.uri[5:].split("/", 1)[0]
            out.setdefault(bucket, []).append(dag_id)
        for sub in (cond.all or []) + (cond.any or []):
            walk(sub, dag_id)

    for plan in plans:
        if plan.schedule.kind == "assets":
            walk(plan.schedule.assets, plan.dag_id)
    return out


def preflight(args: argparse.Namespace, stack: str, dags: Path) -> Preflight:
    """The checks before ``sam build`` (see the module doc); raises ``StratusError`` naming the fix.

    May add ``LandingBucketName=...`` to ``args.parameter`` (the one bucket the DAGs name).
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    found = Preflight()
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    if session.get_credentials() is None:
        raise StratusError("No AWS credentials found: run `aws configure` (or `aws sso login`, or set AWS_PROFILE / "
                           "AWS_ACCESS_KEY_ID) and deploy again. Nothing was built.")
    found.region = session.region_name or ""
    if not found.region:
        raise StratusError("No AWS region: pass --region REGION (or set AWS_REGION, or `aws configure set region "
                           "REGION`). Nothing was built.")
    try:
        who = session.client("sts", config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
                             ).get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise StratusError(f"The AWS credentials do not work ({exc}); refresh them (`aws sso login`, a new "
                           "session token) and deploy again. Nothing was built.") from exc
    found.account, found.arn = str(who.get("Account", "")), str(who.get("Arn", ""))
    landing = _override(args.parameter, "LandingBucketName")
    source = "--parameter"
    if landing is None:
        landing, source = _samconfig_parameter("LandingBucketName", stack), "samconfig.toml"
    if landing is None:
        landing, source = _stack_parameter(session, stack, "LandingBucketName"), f"stack {stack}"
    buckets = asset_buckets(str(dags))
    if not landing and len(buckets) == 1:
        landing = next(iter(buckets))
        source = f"the bucket the DAGs' S3 Assets name ({', '.join(buckets[landing])}); bucket names are global"
        args.parameter.append(f"LandingBucketName={landing}")
    if len(buckets) > 1:
        named = "; ".join(f"s3://{b}/ ({', '.join(d)})" for b, d in sorted(buckets.items()))
        raise StratusError(f"The DAGs' S3 Asset schedules name {len(buckets)} buckets ({named}), but a stack has one "
                           "landing bucket: move the assets to one bucket and pass --parameter "
                           "LandingBucketName=NAME. Nothing was built.")
    if buckets and landing not in buckets:
        bucket, dag_ids = next(iter(buckets.items()))
        what = f"'{landing}'" if landing else "a name CloudFormation picks"
        raise StratusError(f"DAG(s) {', '.join(dag_ids)} wait for objects in s3://{bucket}/, but the stack's landing "
                           f"bucket would be {what} ({source or 'template default'}): their runs would never start. "
                           f"Pass --parameter LandingBucketName={bucket} (or change the DAGs' Asset URIs). "
                           "Nothing was built.")
    found.landing_bucket, found.landing_source = landing or "", source if landing else ""
    if not buckets:
        found.notes.append("no DAG is scheduled on S3 Assets: the landing bucket is not checked")
    return found


def _stack_parameter(session: Any, stack: str, key: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError):
        return None
    for param in (stacks[0].get("Parameters") or []) if stacks else []:
        if param.get("ParameterKey") == key:
            return str(param.get("ParameterValue") or "") or None
    return None


# ---------------------------------------------------------------------------- destroy
def register(subparsers: Any) -> None:
    """Add ``destroy``."""
    p = subparsers.add_parser("destroy", help="delete a deployed stack (sam delete); --purge also its data")
    p.add_argument("--stack", default=None, help="stack name (default: $STRATUS_STACK, else 'stratus')")
    p.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    p.add_argument("--purge", action="store_true",
                   help="also delete the retained run table and empty and delete the artefact and landing buckets")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_destroy)


def cmd_destroy(args: argparse.Namespace) -> int:
    from orchestrator.cli.run_commands import find_sam
    from orchestrator.config import Clients
    from orchestrator.local.target import stack_target

    stack = args.stack or os.environ.get("STRATUS_STACK") or "stratus"
    sam = find_sam()
    if args.region:
        os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    clients, resources = stack_target(stack, clients=Clients(region_name=args.region) if args.region else None)
    kept = [f"DynamoDB table {resources.table}", f"S3 bucket {resources.artefact_bucket}"]
    if resources.landing_bucket:
        kept.append(f"S3 bucket {resources.landing_bucket}")
    what = f"stack '{stack}'" + (" and its data (" + ", ".join(kept) + ")" if args.purge else "")
    if sys.stdin.isatty() and not args.yes:
        if input(f"Delete {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    elif not args.yes:
        raise StratusError(f"Deleting {what} needs --yes when not run from a terminal.")
    argv = [sam, "delete", "--stack-name", stack, "--no-prompts"] + (["--region", args.region] if args.region else [])
    print("$ " + " ".join(argv), flush=True)
    status = subprocess.call(argv, env=dict(os.environ, SAM_CLI_TELEMETRY=os.environ.get("SAM_CLI_TELEMETRY", "0")))
    if status != 0:
        raise StratusError(f"`sam delete` failed with exit status {status}; see its output above.")
    if not args.purge:
        print(f"Stack '{stack}' deleted. Kept (DeletionPolicy Retain): {', '.join(kept)}; "
              "`stratus destroy --purge` (before the delete) or the AWS console removes them.")
        return 0
    ddb, s3 = clients.client("dynamodb"), clients.client("s3")
    ddb.delete_table(TableName=resources.table)
    for bucket in filter(None, (resources.artefact_bucket, resources.landing_bucket)):
        _empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
    print(f"Stack '{stack}' and its data deleted ({', '.join(kept)}).")
    return 0


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                   for o in (page.get("Versions") or []) + (page.get("DeleteMarkers") or [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


__all__ = ["DEPLOYER_PERMISSIONS", "Preflight", "asset_buckets", "cmd_destroy", "preflight", "register"]
