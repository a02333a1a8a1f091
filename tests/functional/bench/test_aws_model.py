"""bench/aws_model.py: the AWS model's limits bite where AWS's do, its scaling of recorded runs is faithful.

Never timings: the model's own figures are simulated seconds, asserted only as orderings
(a hot item throttles, a cold one does not) and as counts.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import aws_model  # noqa: E402
from bench.aws_model import Limits, Simulator, lengthen, many_runs, signature, widen  # noqa: E402
from bench.aws_trace import Invocation, Item, Step, Trace  # noqa: E402

RUN = "RUN#d#r"


def write(sk: str, wcu: float = 2.0, pk: str = RUN, names: tuple[str, ...] = ("c#t#success",), gsi: str = "") -> Step:
    return Step("dynamodb", "TransactWriteItems", [Item("Update", pk, sk, wcu, 0.0, 600, names, gsi)])


def fan_out(n: int, member_steps: list[Step]) -> Trace:
    """A trigger invoking ``n`` workers, each running ``member_steps`` around its body."""
    workers = [Invocation("worker", f"w{i}", f"work[{i}]", [Step("body", f"work[{i}]"), *member_steps]) for i in range(n)]
    trigger = Invocation("trigger", "start", "", [Step("lambda", "Invoke", [], f"w{i}") for i in range(n)])
    return Trace("d", [trigger, *workers])


def burst(n: int, pk_of, wcu: float) -> list[tuple[float, Trace]]:
    """``n`` invocations started at once (as ``n`` S3 events are), each one write of ``wcu`` units."""
    return [(0.0, Trace("d", [Invocation("trigger", f"t{i}", "", [write("ASSET", wcu, pk=pk_of(i))])])) for i in range(n)]


def test_a_hot_item_throttles_and_a_spread_one_does_not():
    # 1,000 invocations at once writing 4 units each to one item: 4,000 WCU in well under a second.
    hot = Simulator(Limits()).run("hot", burst(1000, lambda i: "ASSET#s3://b/k", 4.0))
    assert hot.throttled > 0 and hot.peak_item == "ASSET#s3://b/k/ASSET"
    assert hot.peak_item_wcu <= 2 * Limits().partition_wcu  # a bucket holds at most one second's units
    # The same writes to an item and a partition key each: nothing throttles.
    cold = Simulator(Limits()).run("cold", burst(1000, lambda i: f"ASSET#{i}", 4.0))
    assert cold.throttled == 0 and cold.failed_invocations == 0
    assert cold.makespan_s < hot.makespan_s


def test_lambda_concurrency_caps_what_runs_at_once():
    lim = Limits(lambda_concurrency=50, body_ms=500)
    res = Simulator(lim).run("c", [(0.0, fan_out(200, [write("TI#a", 1.0, pk="RUN#x")]))])
    assert res.peak_concurrency == 50 and res.invocations == 201
    # Four waves of 50 bodies of 0.5 s: at least 2 s.
    assert res.makespan_s >= 2.0


def test_index_writes_follow_the_projection():
    # Counter writes on a run item that carries an index key: with ALL, every one writes the
    # index partition; with INCLUDE (state), none does, a state change does.
    steps = [write("RUN", 1.0, names=("c#a#success",), gsi="DAG#d"), write("RUN", 1.0, names=("state",), gsi="DAG#d")]
    runs = [(0.0, t) for t in many_runs(fan_out(1, steps), 300)]
    every = Simulator(Limits(gsi_projection=None, body_ms=10)).run("all", runs)
    state_only = Simulator(Limits(gsi_projection=("state",), body_ms=10)).run("include", runs)
    assert every.peak_pk == "gsi:DAG#d"
    assert every.wru - state_only.wru == pytest.approx(300)  # one counter write per run no longer reaches the index
    assert state_only.throttled <= every.throttled


def test_template_projection_is_what_the_model_reads():
    from orchestrator.store.dynamo import INDEX_ATTRIBUTES

    assert aws_model.template_projection() == INDEX_ATTRIBUTES


def lane_trace(lanes: int, per_lane: int) -> Trace:
    """make -> ``lanes`` lane heads (a queueing transaction then an Invoke each) -> members -> total."""
    invs = []
    make_steps = [Step("body", "make[-1]")]
    for lane in range(lanes):
        make_steps += [write(f"TI#work#{lane:06d}", 2.0), Step("lambda", "Invoke", [], f"m{lane}")]
    invs.append(Invocation("worker", "make", "make[-1]", make_steps))
    for lane in range(lanes):
        for pos in range(per_lane):
            i = lane + pos * lanes
            steps = [Step("body", f"work[{i}]"), write(f"TI#work#{i:06d}", 2.0)]
            if pos + 1 < per_lane:
                steps.append(Step("lambda", "Invoke", [], f"m{i + lanes}"))
            elif lane == lanes - 1:
                steps.append(Step("lambda", "Invoke", [], "total"))
            invs.append(Invocation("worker", f"m{i}", f"work[{i}]", steps))
    invs.append(Invocation("worker", "total", "total[-1]", [Step("body", "total[-1]"), write("RUN", 1.0)]))
    return Trace("d", invs)


def test_widen_repeats_lanes_and_starts_the_downstream_once():
    wide = widen(lane_trace(2, 3), 3, "work")
    assert signature(wide) == signature(lane_trace(6, 3))
    assert sum(1 for inv in wide.invocations if inv.task.startswith("total")) == 1
    res = Simulator(Limits(body_ms=10)).run("w", [(0.0, wide)])
    assert res.tasks == 6 * 3 + 2 and res.invocations == res.tasks


def test_lengthen_repeats_lane_members_in_order():
    long = lengthen(lane_trace(2, 4), 5, "work")
    # head + 2 middle members x 5 + last member, per lane.
    assert sum(1 for inv in long.invocations if inv.task.startswith("work")) == 2 * (1 + 2 * 5 + 1)
    res = Simulator(Limits(body_ms=100)).run("l", [(0.0, long)])
    assert res.tasks == 2 * 12 + 2 and res.invocations == res.tasks
    # Each lane is sequential: 12 bodies of 0.1 s one after another, plus make and total.
    assert res.makespan_s >= 14 * 0.1
    assert res.peak_concurrency <= 2
    # A chain is one lane of every task: lengthened to 30 steps in all.
    chain = Trace("c", [Invocation("worker", f"t{i}", f"t{i}[-1]", [Step("body", f"t{i}"), write(f"TI#t{i}", 2.0)]
                                   + ([Step("lambda", "Invoke", [], f"t{i + 1}")] if i < 4 else [])) for i in range(5)])
    longer = lengthen(chain, 1, None, length=30)
    assert len(longer.invocations) == 30 and Simulator(Limits(body_ms=10)).run("c", [(0.0, longer)]).tasks == 30


@pytest.mark.slow
def test_widened_recording_matches_a_direct_recording_of_that_size(aws_env):
    """The check ``make bench`` prints: recorded 2 lanes of 10, widened x2, against 4 lanes of 10 recorded.

    Two recordings of one DAG differ by what each lane does as it ends (which lane ends last
    writes the map's counts and starts the downstream task; a lane may steal): up to one call
    per lane. Every count must agree within that, or 2%. Request units are priced per call, and
    a lane's extra call is most often a transaction of two small items at twice the units
    (4 WCU: 48 of the 51 transactions of a recorded 40-map), so the unit lines may differ by up
    to 4 per lane (CI once saw 265 against 259 WCU).
    """
    lanes = 4
    rows = aws_model.check(small=(20, 2), big=(40, lanes))
    for key, predicted, measured in rows:
        per_lane = 4 if key.startswith("units ") else 1
        assert abs(predicted - measured) <= max(per_lane * lanes, 0.02 * measured), (key, predicted, measured)
    keys = {key for key, _, _ in rows}
    assert "call lambda:Invoke" in keys and "call dynamodb:TransactWriteItems" in keys


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)


def test_limits_are_the_published_ones():
    lim = Limits()
    assert (lim.partition_wcu, lim.partition_rcu, lim.lambda_concurrency, lim.scale_per_10s) == (1000, 3000, 1000, 1000)
    assert replace(lim, split_for_heat=True).partition_wcu == 1000
