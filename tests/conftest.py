"""Shared by every test: process-wide settings a test may change are put back afterwards."""

from __future__ import annotations

import pytest

import orchestrator.compose  # noqa: F401  the composition root installs the triggers' engine factory, as every entry point does


@pytest.fixture(autouse=True)
def _metrics_back_to_emf():
    """A CLI command run in-process may route metrics to PutMetricData (telemetry.send_metrics_with)."""
    yield
    from orchestrator import telemetry

    telemetry.send_metrics_with(None)


@pytest.fixture(autouse=True)
def _no_iam_denials():
    """Every AWS call a handler made on a local cloud during the test was allowed by its role.

    The local cloud authorises each call against the function's role as template.yaml deploys
    it (orchestrator.local.iam) and answers AccessDeniedException as AWS would; a denial can be
    swallowed by a retry or a failed task, so it also fails the test here. A test that expects
    denials takes them with ``cloud.iam.take_denials()``.
    """
    yield
    from orchestrator.local import iam

    denials = iam.take_all_denials()
    if denials:
        pytest.fail("AWS would deny these calls (local IAM check):\n" + "\n".join(f"- {d}" for d in denials))
