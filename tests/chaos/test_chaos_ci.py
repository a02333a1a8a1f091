"""CI-sized chaos: a few dozen judged runs under every fault kind; nothing stuck, lost or wrong."""

from __future__ import annotations

import re

import pytest

from orchestrator.local import chaos
from orchestrator.local.faults import FaultRates

# Higher rates than `make chaos` so a short run still meets every fault kind.
CI_RATES = FaultRates(duplicate=0.15, drop=0.08, crash_before_record=0.1, crash_after_record=0.1,
                      ddb_throttle=0.04, lambda_throttle=0.1, lambda_storm=0.03, s3_duplicate=0.5, reorder=True)


@pytest.mark.slow
def test_chaos_runs_settle_correctly_under_faults(tmp_path):
    result = chaos.run_seed(11, 10, rates=CI_RATES, batch=5, asset_rounds=1, workdir=tmp_path)
    bad = [v for v in result.verdicts if v.outcome != "correct"]
    assert bad == []
    counts = chaos.summary([result])
    assert counts["stuck"] == counts["lost"] == 0 and counts["correct"] == counts["runs"] >= 11
    assert {"duplicate", "drop", "crash_before_record", "crash_after_record", "ddb_throttle"} <= set(result.faults)
    assert result.errors["InjectedCrash"] > 0  # killed workers went through Lambda's async retry path


def test_make_chaos_ends_with_the_summary_line(capsys):
    assert chaos.main(["--seeds", "3", "--runs", "2", "--shapes", "chaos_chain"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"runs=\d+ faults=\d+ correct=\d+ stuck=0 lost=0", out[-1])
