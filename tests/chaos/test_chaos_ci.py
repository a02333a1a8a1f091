"""CI-sized chaos: judged runs delivered from several threads at once, the sweeper alongside,
under every fault kind; nothing stuck, lost, wrong or overlapping."""

from __future__ import annotations

import re

import pytest

from chaos import harness as chaos
from chaos.faults import FaultRates

# Higher rates than `make chaos` so a short run still meets every fault kind.
CI_RATES = FaultRates(duplicate=0.15, drop=0.06, crash_before_record=0.08, crash_after_record=0.08,
                      ddb_throttle=0.04, lambda_throttle=0.1, lambda_storm=0.03, s3_duplicate=0.5, reorder=True,
                      crash_write=0.03, hard_timeout=0.08, run_storm=0.05, clear=0.3, mark=0.2)


@pytest.mark.slow
def test_chaos_runs_delivered_at_once_settle_correctly_under_faults(tmp_path):
    result = chaos.run_seed(11, 24, rates=CI_RATES, batch=8, asset_rounds=2, workdir=tmp_path, threads=4)
    bad = [f"{v.outcome}: {v.dag_id} {v.run_id}: {v.detail}" for v in result.verdicts if v.outcome != "correct"]
    # No wrong answer is tolerated (the clear/finish signature was only warned about until
    # 2026-12-04). What this pass found there were three races, each fixed in the engine and
    # pinned in tests/functional/engine/test_concurrency_races.py: clear re-opening from a stale
    # read (the cleared task left at none); a worker finishing the run on counts read just before
    # a whole clear (finish_run is now conditional on them); and a clear resetting a fan-out member
    # whose outcome still rode its lane (both its lane and its next try counted it: the run done
    # early or stuck). Measured after the fixes: this pass's settings over seeds 1-114 (114
    # passes, 3,308 judged runs) and `make chaos` seeds 206-220 (3,146 runs): every run correct;
    # before them, 60 passes gave 2 wrong runs and, with only the finish fixed, 59 gave 2 stuck
    # and 1 wrong.
    assert not bad, "\n".join(bad)
    assert result.overlaps == []
    counts = chaos.summary([result])
    assert counts["stuck"] == counts["lost"] == counts["overlap"] == 0 and counts["correct"] == counts["runs"] >= 25
    assert {"duplicate", "crash_write", "hard_timeout", "run_storm", "clear"} <= set(result.faults)
    assert result.errors["InjectedCrash"] > 0  # killed workers went through the OnFailure destination


def test_make_chaos_prints_its_seed_and_ends_with_the_summary_line(capsys):
    assert chaos.main(["--seeds", "3", "--runs", "2", "--shapes", "chaos_chain"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("chaos: seeds 3, 2 runs each") and "CHAOS_SEED=3" in out[0]
    assert re.fullmatch(r"runs=\d+ faults=\d+ correct=\d+ stuck=0 lost=0 overlap=0", out[-1])
