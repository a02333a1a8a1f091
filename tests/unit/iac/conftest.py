"""The project's template.yaml, translated once per test session by samtranslator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.local.template import TranslatedTemplate, load_sam_template, translate

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="session")
def sam() -> dict[str, Any]:
    return load_sam_template(TEMPLATE)


@pytest.fixture(scope="session")
def translated() -> TranslatedTemplate:
    return translate(TEMPLATE, staging_bucket="stratus-test-staging")


@pytest.fixture(scope="session")
def cfn(translated: TranslatedTemplate) -> dict[str, Any]:
    return translated.cloudformation
