"""The speed-ups install only on the moto they were tested with, all or nothing, and never break a run.

Each scenario runs in a fresh process (the speed-ups are process-wide): a moto version outside
``TESTED_MOTO``, a patch target whose signature changed, a patch that fails half-way and
``STRATUS_MOTO_FAST=0`` must each leave moto and botocore exactly as shipped (one warning line
at most) and still answer DynamoDB calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestrator.local import speedups

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

SCENARIO = """
import json, os, sys
for k, v in {{"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}}.items():
    os.environ[k] = v
from orchestrator.local import speedups
{setup}
ok = speedups.install()
sys.path.insert(0, {here!r})
from transaction_cases import patched
import boto3
from moto import mock_aws
with mock_aws():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{{"AttributeName": "pk", "KeyType": "HASH"}}],
                     AttributeDefinitions=[{{"AttributeName": "pk", "AttributeType": "S"}}])
    ddb.transact_write_items(TransactItems=[{{"Put": {{"TableName": "t", "Item": {{"pk": {{"S": "a"}}}}}}}}])
    items = ddb.scan(TableName="t")["Items"]
state = patched()
state.pop("limits"); state.pop("speedups_imported")
print(json.dumps({{"installed": ok, "patched": state, "items": items}}))
"""


def _scenario(setup: str = "", fast: str = "1") -> tuple[dict, list[str]]:
    code = SCENARIO.format(setup=textwrap.dedent(setup), here=str(HERE))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STRATUS_MOTO_FAST": fast}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("stratus:")]
    return json.loads(done.stdout.strip().splitlines()[-1]), warnings


def _plain(result: dict) -> None:
    assert result["installed"] is False
    assert not any(result["patched"].values()), result["patched"]
    assert result["items"] == [{"pk": {"S": "a"}}]  # plain moto still answers


def test_installs_on_the_tested_moto() -> None:
    result, warnings = _scenario()
    assert result["installed"] is True and all(result["patched"].values()), result
    assert warnings == []
    assert result["items"] == [{"pk": {"S": "a"}}]


def test_untested_moto_version_runs_plain_with_one_warning() -> None:
    result, warnings = _scenario("speedups.moto_version = lambda: '5.0.20'")
    _plain(result)
    assert warnings == ["stratus: local cloud on plain moto (speed-ups off, same answers, slower): "
                        "moto 5.0.20 is outside the tested range 5.2.5 to below 5.2.6"]


def test_changed_patch_target_runs_plain_with_one_warning() -> None:
    result, warnings = _scenario("""
        from moto.dynamodb.models.table import Table
        original = Table.query
        def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                  projection_expressions, consistent_read=False, *args, **kwargs):
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, None, consistent_read, *args, **kwargs)
        Table.query = query
    """)
    _plain(result)
    assert len(warnings) == 1 and "moto.dynamodb.models.table.Table.query takes" in warnings[0], warnings


def test_missing_module_runs_plain_with_one_warning() -> None:
    result, warnings = _scenario("""
        speedups.TARGETS = speedups.TARGETS + (("moto.core.request_gone", "normalize_request", ("request",)),)
    """)
    _plain(result)
    assert len(warnings) == 1 and "moto.core.request_gone.normalize_request is missing (ModuleNotFoundError" \
        in warnings[0], warnings


def test_a_patch_failing_half_way_undoes_every_other() -> None:
    result, warnings = _scenario("""
        from orchestrator.local.speedups import motofast
        def broken():
            raise RuntimeError("boom")
        motofast._fast_response_ids = broken
    """)
    _plain(result)
    assert warnings == ["stratus: local cloud on plain moto (speed-ups off, same answers, slower): "
                        "installing failed (RuntimeError: boom)"]


def test_env_switch_turns_every_speed_up_off_silently() -> None:
    result, warnings = _scenario(fast="0")
    _plain(result)
    assert warnings == []


def test_version_range_check() -> None:
    assert speedups.check("5.0.20") == "moto 5.0.20 is outside the tested range 5.2.5 to below 5.2.6"
    assert speedups.check("5.2.1") is not None
    assert speedups.check("5.2.6") is not None  # new moto releases run plain until the suite ran on them
    assert speedups.check("5.3.0") is not None
