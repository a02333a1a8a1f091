from __future__ import annotations

import pytest
from moto import mock_aws

from orchestrator.config import Clients, Resources
from orchestrator.store import create_table


@pytest.fixture
def aws(monkeypatch):
    """moto with the run-store table and the artefact bucket: (clients, resources)."""
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        resources = Resources(table="stratus-triggers-test", artefact_bucket="stratus-artefacts-test",
                              scheduler_group="stratus-test", trigger_function="stratus-trigger",
                              scheduler_role_arn="arn:aws:iam::123456789012:role/stratus-scheduler")
        create_table(clients, resources.table)
        clients.client("s3").create_bucket(Bucket=resources.artefact_bucket)
        yield clients, resources
