"""Where the cloud is: resource names and boto3 clients, from Lambda's environment or a stack.

In a Lambda function ``Resources.from_env()`` reads the variables template.yaml sets. The CLI
and the embedded local cloud build ``Resources.from_stack_outputs()`` from the CloudFormation
stack's outputs (moto's or AWS's). ``Clients`` hands out boto3 clients for one session and
optional endpoint (the local cloud's), created on first use.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

import boto3
from botocore.config import Config

from orchestrator import constants as c

# Stack output keys (template.yaml Outputs) -> Resources fields.
OUTPUT_KEYS = {
    "TableName": "table",
    "ArtefactBucketName": "artefact_bucket",
    "WorkerFunctionName": "worker_function",
    "ConductorFunctionName": "conductor_function",
    "TriggerFunctionName": "trigger_function",
    "RequestsFunctionName": "requests_function",
    "RetryQueueUrl": "retry_queue_url",
    "SchedulerGroupName": "scheduler_group",
    "SchedulerRoleArn": "scheduler_role_arn",
    "TimerGroupName": "timer_group",
    "TimerRoleArn": "timer_role_arn",
    "LandingBucketName": "landing_bucket",
    "IsolationMode": "isolation",
}


@dataclass(frozen=True)
class Resources:
    table: str
    artefact_bucket: str
    worker_function: str = ""
    conductor_function: str = ""
    trigger_function: str = ""
    requests_function: str = ""  # a DAG's worker asks it what crosses DAGs (Isolation=dag)
    retry_queue_url: str = ""
    scheduler_group: str = ""
    scheduler_role_arn: str = ""
    timer_group: str = ""  # retry timers (delays past SQS's 15 minutes); empty: in scheduler_group
    timer_role_arn: str = ""  # the role they run with (invokes the conductor only); empty: scheduler_role_arn
    landing_bucket: str = ""
    dags_root: str = "dags"
    isolation: str = "shared"  # "dag": each DAG's tasks run in its own worker (orchestrator.plan.isolation)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Resources:
        env = os.environ if environ is None else environ
        return cls(
            table=env[c.ENV_TABLE],
            artefact_bucket=env.get(c.ENV_ARTEFACT_BUCKET, ""),
            worker_function=env.get(c.ENV_WORKER_FUNCTION, ""),
            conductor_function=env.get(c.ENV_CONDUCTOR_FUNCTION, ""),
            trigger_function=env.get(c.ENV_TRIGGER_FUNCTION, ""),
            requests_function=env.get(c.ENV_REQUESTS_FUNCTION, ""),
            retry_queue_url=env.get(c.ENV_RETRY_QUEUE_URL, ""),
            scheduler_group=env.get(c.ENV_SCHEDULER_GROUP, ""),
            scheduler_role_arn=env.get(c.ENV_SCHEDULER_ROLE_ARN, ""),
            timer_group=env.get(c.ENV_TIMER_GROUP, ""),
            timer_role_arn=env.get(c.ENV_TIMER_ROLE_ARN, ""),
            dags_root=env.get(c.ENV_DAGS_ROOT, "dags"),
            isolation=env.get(c.ENV_ISOLATION) or "shared",
        )

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, str], dags_root: str = "dags") -> Resources:
        values: dict[str, Any] = {OUTPUT_KEYS[k]: v for k, v in outputs.items() if k in OUTPUT_KEYS}
        return cls(dags_root=dags_root, **values)

    def as_env(self) -> dict[str, str]:
        """The Lambda environment variables for these resources (used by the local cloud)."""
        return {
            c.ENV_TABLE: self.table,
            c.ENV_ARTEFACT_BUCKET: self.artefact_bucket,
            c.ENV_WORKER_FUNCTION: self.worker_function,
            c.ENV_CONDUCTOR_FUNCTION: self.conductor_function,
            c.ENV_TRIGGER_FUNCTION: self.trigger_function,
            c.ENV_REQUESTS_FUNCTION: self.requests_function,
            c.ENV_RETRY_QUEUE_URL: self.retry_queue_url,
            c.ENV_SCHEDULER_GROUP: self.scheduler_group,
            c.ENV_SCHEDULER_ROLE_ARN: self.scheduler_role_arn,
            c.ENV_TIMER_GROUP: self.timer_group,
            c.ENV_TIMER_ROLE_ARN: self.timer_role_arn,
            c.ENV_DAGS_ROOT: self.dags_root,
            c.ENV_ISOLATION: self.isolation,
        }


@dataclass
class Clients:
    """boto3 clients for one session/endpoint, created lazily and shared (boto3 clients are thread-safe)."""

    session: boto3.session.Session = field(default_factory=boto3.session.Session)
    endpoint_url: str | None = None
    region_name: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        with self._lock:
            found = self._cache.get(service)
            if found is None:
                kwargs: dict[str, Any] = {
                    "config": Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=50)
                }
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                region = self.region_name or self.session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
                found = self.session.client(service, region_name=region, **kwargs)  # type: ignore[call-overload]
                self._cache[service] = found
            return found

    @classmethod
    def from_env(cls) -> Clients:
        return cls(endpoint_url=os.environ.get(c.ENV_ENDPOINT_URL) or None)
