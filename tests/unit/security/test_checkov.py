"""checkov over template.yaml, when checkov is installed (it lives in its own venv: its pins clash).

Install: ``python3.12 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov``; the test
finds ``checkov`` on PATH, in ``.venv-checkov/bin`` or at ``$STRATUS_CHECKOV``, else skips.
Findings Stratus accepts on purpose are listed with the reason; anything else fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ACCEPTED = {
    "CKV_AWS_115": "no reserved concurrency per function: it would cap a 10,000-wide map; account limits apply",
    "CKV_AWS_116": "async functions have OnFailure destinations/DLQs; the API and widget are synchronous",
    "CKV_AWS_117": "no VPC: the functions only call AWS APIs, and a VPC adds NAT cost to a zero-idle design",
    "CKV_AWS_119": "DynamoDB encrypted with the AWS owned key (default); a CMK adds KMS calls per request",
    "CKV_AWS_158": "log groups use CloudWatch's default encryption; no customer key to manage",
    "CKV_AWS_173": "environment variables hold resource names only, never secrets (those are in SSM/Secrets Manager)",
    "CKV_AWS_18": "bucket access logs are left to the operator (a logging bucket is a deployment choice)",
    "CKV_AWS_21": "artefact objects are immutable per try; versioning would only keep garbage",
}


def _checkov() -> str | None:
    for candidate in (os.environ.get("STRATUS_CHECKOV"), shutil.which("checkov"),
                      str(ROOT / ".venv-checkov" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.mark.skipif(_checkov() is None, reason="checkov is not installed (optional; see module doc)")
def test_checkov_finds_nothing_beyond_the_accepted_list():
    proc = subprocess.run([_checkov(), "-f", str(ROOT / "template.yaml"), "--framework", "cloudformation",
                           "--quiet", "--compact", "-o", "json"], capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = sorted({(f["check_id"], f["resource"], f["check_name"]) for f in report["results"]["failed_checks"]
                     if f["check_id"] not in ACCEPTED})
    assert failed == []
