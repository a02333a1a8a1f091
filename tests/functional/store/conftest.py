from __future__ import annotations

import pytest
from moto import mock_aws

from orchestrator.config import Clients, Resources
from orchestrator.local import ddblimits, speedups
from orchestrator.store import RunStore, create_table


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)
    speedups.install()  # off with STRATUS_MOTO_FAST=0 (make test runs these suites both ways)
    ddblimits.install()
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        resources = Resources(table="stratus-store-test", artefact_bucket="stratus-artefacts-test")
        create_table(clients, resources.table)
        clients.client("s3").create_bucket(Bucket=resources.artefact_bucket)
        yield clients, resources


@pytest.fixture
def store(aws) -> RunStore:
    clients, resources = aws
    return RunStore(clients, resources)
