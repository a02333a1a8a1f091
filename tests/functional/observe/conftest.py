"""Shared fixtures for the observe functional tests: a moto account with the run store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "observe"))

from orchestrator.config import Clients, Resources  # noqa: E402

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("STRATUS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws_env, monkeypatch):
    """Table + artefact bucket in moto, and the Lambda environment pointing at them."""
    from orchestrator.store import RunStore, create_table

    clients = Clients(region_name=REGION)
    resources = Resources(table="stratus-runs", artefact_bucket="stratus-artefacts", worker_function="stratus-worker")
    create_table(clients, resources.table)
    clients.client("s3").create_bucket(Bucket=resources.artefact_bucket)
    for key, value in resources.as_env().items():
        monkeypatch.setenv(key, value)
    return clients, resources, RunStore(clients, resources)
