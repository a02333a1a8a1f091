"""Per-DAG isolation (issue #15, first part): the IAM policy of one DAG's own worker role.

A DAG's tasks may reach only that DAG's items of the run table, its own S3 prefixes and its
own secrets prefix::

    DynamoDB  item actions whose dynamodb:LeadingKeys are all  DAG#{dag_id}  or  RUN#{dag_id}#*
    S3        artefacts  xcom/{dag_id}/*  (read, write),  plans/{dag_id}/*  (read)
    secrets   Secrets Manager  stratus/dags/{dag_id}/*,  SSM  /stratus/dags/{dag_id}/*

Dag ids contain no ``#`` (Airflow's dag_id alphabet: letters, digits, ``-``, ``.``, ``_``), so
``RUN#a#*`` never matches DAG ``ab``'s items. The policy is a plain IAM document with the
stack's ARNs given as arguments; the local IAM check (``orchestrator.local.iam``) evaluates
its conditions, so a task of DAG A writing DAG B's run item, XCom or plan, or reading B's
secret, is denied locally as on AWS (``tests/functional/local/test_dag_isolation.py``).

Not built yet (see the report of issue #15): generating one worker function and role per DAG
at deploy time, dispatching each DAG's tasks to its function, and moving the worker's
cross-DAG writes (asset events of outlets, ``TriggerDagRunOperator``'s runs, the global
``RUNID#`` pointer) to the shared trigger function.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.errors import StratusError

_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:Query"]


def leading_keys(dag_id: str) -> list[str]:
    """The partition keys of ``dag_id``'s items in the run table (``store.dynamo``'s layout)."""
    return [f"DAG#{dag_id}", f"RUN#{dag_id}#*"]


def dag_worker_policy(
    dag_id: str, *, table_arn: str, artefact_bucket_arn: str, region: str, account: str, partition: str = "aws",
) -> dict[str, Any]:
    """The identity policy of DAG ``dag_id``'s own worker role (run store, S3, secrets parts)."""
    if not _DAG_ID.match(dag_id):
        raise StratusError(f"DAG id {dag_id!r} cannot be isolated: use letters, digits, '-', '.' and '_' only.")
    secrets = f"arn:{partition}:secretsmanager:{region}:{account}:secret:stratus/dags/{dag_id}/*"
    params = f"arn:{partition}:ssm:{region}:{account}:parameter/stratus/dags/{dag_id}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnRunItems",
                "Effect": "Allow",
                "Action": ITEM_ACTIONS,
                "Resource": table_arn,
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading_keys(dag_id)}},
            },
            {"Sid": "OwnOutputs", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": f"{artefact_bucket_arn}/xcom/{dag_id}/*"},
            {"Sid": "OwnPlans", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": f"{artefact_bucket_arn}/plans/{dag_id}/*"},
            {"Sid": "OwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets},
            {"Sid": "OwnParameters", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": params},
        ],
    }
