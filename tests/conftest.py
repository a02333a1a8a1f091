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
