"""The ``deployed`` fixture for the bad-input tests (helpers in badinput_corpus.py)."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from badinput_corpus import ARTEFACTS, TABLE, Deployed


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Any:
    """One moto world per test module: every case must leave it unchanged (checked per case)."""
    root = tmp_path_factory.mktemp("dags")
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Stratus",
           "STRATUS_TABLE": TABLE, "STRATUS_ARTEFACT_BUCKET": ARTEFACTS,
           "STRATUS_WORKER_FUNCTION": "stratus-worker", "STRATUS_CONDUCTOR_FUNCTION": "stratus-conductor",
           "STRATUS_RETRY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/retries",
           "STRATUS_DAGS_ROOT": str(root)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("STRATUS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield Deployed(root)


