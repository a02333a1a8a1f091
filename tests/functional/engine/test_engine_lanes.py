"""Lanes (engine.lanes): a throttled map creates its lane heads only; each instance creates the next
of its lane in its terminal transaction and carries the lane's counts. These tests check that
failures, retries, hand marks, clears and a reconcile in the middle of a lane keep the run exact."""

from __future__ import annotations

LANES = """
@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2,
     default_args={{"retries": {retries}, "retry_delay": timedelta(seconds=0)}})
def {dag_id}():
    @task
    def work(x, **context):
        {body}
        return x
    @task(trigger_rule="all_done")
    def total(xs):
        return sorted(v for v in xs if v is not None)
    total(work.expand(x=list(range({n}))))
{dag_id}()
"""


def _write(h, dag_id: str, *, n: int = 30, body: str = "pass", retries: int = 0) -> None:
    h.write(dag_id, LANES.format(dag_id=dag_id, n=n, body=body, retries=retries))


def _work_states(h, dag_id: str, run_id: str) -> dict[int, str]:
    return {int(t["map_index"]): t["state"] for t in h.store.list_tis(dag_id, run_id, "work")}


def test_a_failed_instance_in_the_middle_of_a_lane_does_not_stop_the_lane(h):
    _write(h, "lane_fail", body="if x == 4:\n            raise ValueError('four')")
    run = h.run("lane_fail")
    states = _work_states(h, "lane_fail", run["run_id"])
    assert len(states) == 30 and states[4] == "failed" and states[6] == "success"
    assert run["state"] == "success"  # total is all_done and is the only leaf
    assert h.store.get_xcom("lane_fail", run["run_id"], "total") == [x for x in range(30) if x != 4]
    assert run["m#work#done"] == 30 and run["m#work#failed"] == 1 and run["m#work#success"] == 29
    assert run["active_tasks"] == 0


def test_a_retried_instance_keeps_its_lane_and_its_slot(h):
    _write(h, "lane_retry", retries=1,
           body="if x == 5 and context['ti'].try_number == 1:\n            raise ValueError('first try')")
    run = h.run("lane_retry")
    assert run["state"] == "success", h.states("lane_retry", run["run_id"])
    tis = {int(t["map_index"]): t for t in h.store.list_tis("lane_retry", run["run_id"], "work")}
    assert int(tis[5]["try_number"]) == 2 and tis[7]["state"] == "success"
    assert h.store.get_xcom("lane_retry", run["run_id"], "total") == list(range(30))
    assert run["m#work#done"] == 30 and run["active_tasks"] == 0


def test_reconcile_in_the_middle_of_the_lanes_keeps_the_counts_exact(h):
    _write(h, "lane_reconcile")
    run = h.start("lane_reconcile")
    rid = run["run_id"]
    for _ in range(13):  # a few instances of each lane, with counts riding on the next ones
        h.engine.handle_task(h.dispatcher.tasks.popleft())
    carried = [t for t in h.store.list_tis("lane_reconcile", rid, "work") if t.get("mcarry")]
    assert carried, "the lanes should be carrying counts"
    h.engine.reconcile("lane_reconcile", rid)
    h.drain()
    run = h.store.get_run("lane_reconcile", rid)
    assert run["state"] == "success"
    assert run["m#work#done"] == 30 and run["m#work#success"] == 30
    assert run["tasks_done"] == run["tasks_total"] and run["active_tasks"] == 0


def test_marking_a_mapped_task_marks_the_instances_still_waiting_in_their_lanes(h):
    _write(h, "lane_mark")
    run = h.start("lane_mark")
    rid = run["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # work[0] ends, work[2] is created
    h.engine.mark("lane_mark", rid, "work", "success")
    states = _work_states(h, "lane_mark", rid)
    assert len(states) == 30 and set(states.values()) == {"success"}
    h.drain()
    run = h.store.get_run("lane_mark", rid)
    assert run["state"] == "success" and h.states("lane_mark", rid)["total"] == "success"


def test_clearing_failed_instances_inside_lanes_runs_only_those_again(h):
    _write(h, "lane_clear", body="if x in (3, 9, 17) and context['ti'].try_number == 1:\n"
                                 "            raise ValueError('bad')")
    run = h.run("lane_clear")
    rid = run["run_id"]
    assert sorted(i for i, s in _work_states(h, "lane_clear", rid).items() if s == "failed") == [3, 9, 17]
    cleared = h.engine.clear("lane_clear", rid, ["work"], failed_only=True)
    assert sorted(cleared) == [("work", 3), ("work", 9), ("work", 17)]
    h.drain()
    run = h.store.get_run("lane_clear", rid)
    assert run["state"] == "success"
    tis = {int(t["map_index"]): t for t in h.store.list_tis("lane_clear", rid, "work")}
    assert {i for i, t in tis.items() if int(t["try_number"]) == 2} == {3, 9, 17}
    assert {t["state"] for t in tis.values()} == {"success"}
    assert h.store.list_xcom("lane_clear", rid, "work") == list(range(30))
    assert run["m#work#done"] == 30 and run["m#work#success"] == 30 and run["active_tasks"] == 0


def test_clearing_the_whole_mapped_task_runs_every_lane_again(h):
    _write(h, "lane_again", n=9)
    run = h.run("lane_again")
    rid = run["run_id"]
    cleared = h.engine.clear("lane_again", rid, ["work"], downstream=True)
    assert len(cleared) == 10
    h.drain()
    run = h.store.get_run("lane_again", rid)
    assert run["state"] == "success"
    assert {int(t["try_number"]) for t in h.store.list_tis("lane_again", rid, "work")} == {2}
    assert h.store.get_xcom("lane_again", rid, "total") == list(range(9))


FANOUT = """
@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=4)
def {dag_id}():
    @task
    def start():
        return 1
    @task(trigger_rule="{rule}")
    def end():
        return 2
    first, last = start(), end()
    for i in range({n}):
        @task(task_id=f"m{{i:02d}}")
        def middle(**context):
            {body}
            return context["ti"].task_id
        first >> middle() >> last
{dag_id}()
"""


def _fanout(h, dag_id: str, *, n: int = 10, body: str = "pass", rule: str = "all_success") -> None:
    h.write(dag_id, FANOUT.format(dag_id=dag_id, n=n, body=body, rule=rule))


def test_a_fan_out_beyond_max_active_tasks_runs_in_lanes_with_one_slot_write(h, counter):
    _fanout(h, "fan")
    run = h.start("fan")
    rid = run["run_id"]
    counter.reset()
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # start: queues the 4 lane heads
    states = h.states("fan", rid)
    assert sorted(k for k in states if k.startswith("m")) == ["m00", "m01", "m02", "m03"]
    head = h.store.get_ti("fan", rid, "m00")
    assert head["lane"] == ["m04", "m08"] and h.store.get_ti("fan", rid, "m03")["lane"] == ["m07"]
    # start's terminal write, then one transaction for the four heads and their slots
    assert counter.by_operation()["dynamodb:TransactWriteItems"] == 2, counter.by_operation()
    peak = 0
    while h.dispatcher.tasks:
        h.engine.handle_task(h.dispatcher.tasks.popleft())
        busy = [v for v in h.states("fan", rid).values() if v in ("queued", "running")]
        peak = max(peak, len(busy))
    run = h.store.get_run("fan", rid)
    assert peak == 4 and run["state"] == "success"
    assert run["tasks_done"] == run["tasks_total"] == 12 and run["active_tasks"] == 0
    assert run["c#end#success"] == 10 and run["c#end#units"] == 10
    assert [m.task_id for m in h.dispatcher.invoked].count("end") == 1


def test_a_failed_member_fails_the_fan_in_and_its_lane_goes_on(h):
    _fanout(h, "fan_fail", body="if context['ti'].task_id == 'm04':\n                raise ValueError('m04')")
    run = h.run("fan_fail")
    states = h.states("fan_fail", run["run_id"])
    assert states["m04"] == "failed" and states["m08"] == "success"  # m08 follows m04 in lane 0
    assert states["end"] == "upstream_failed" and run["state"] == "failed"
    assert run["tasks_done"] == run["tasks_total"]


def test_reconcile_in_the_middle_of_fan_out_lanes_keeps_the_counts_exact(h):
    _fanout(h, "fan_reconcile")
    run = h.start("fan_reconcile")
    rid = run["run_id"]
    for _ in range(6):  # start, the four heads, and m04: outcomes ride on m04's successor
        h.engine.handle_task(h.dispatcher.tasks.popleft())
    assert any(t.get("lcarry") for t in h.store.list_tis("fan_reconcile", rid))
    h.engine.reconcile("fan_reconcile", rid)
    h.drain()
    run = h.store.get_run("fan_reconcile", rid)
    assert run["state"] == "success" and run["tasks_done"] == run["tasks_total"]
    assert run["c#end#units"] == 10 and run["active_tasks"] == 0
    assert {int(t["try_number"]) for t in h.store.list_tis("fan_reconcile", rid)} == {1}


def test_clearing_a_finished_fan_out_runs_every_lane_again(h):
    _fanout(h, "fan_again")
    run = h.run("fan_again")
    rid = run["run_id"]
    cleared = h.engine.clear("fan_again", rid)
    assert len(cleared) == 12
    h.drain()
    run = h.store.get_run("fan_again", rid)
    assert run["state"] == "success" and run["tasks_done"] == 12
    assert {int(t["try_number"]) for t in h.store.list_tis("fan_again", rid)} == {2}


def test_members_under_an_early_rule_are_not_put_in_lanes(h):
    _fanout(h, "fan_early", rule="one_success")
    run = h.start("fan_early")
    h.engine.handle_task(h.dispatcher.tasks.popleft())
    assert not any(t.get("lane") for t in h.store.list_tis("fan_early", run["run_id"]))
    h.drain()
    assert h.store.get_run("fan_early", run["run_id"])["state"] == "success"


def test_a_re_expanded_map_reads_the_new_output_of_its_upstream(h):
    # The worker remembers the list a map reads, per expansion: a clear of the upstream and the
    # map runs the map over the upstream's new output.
    h.write("lane_new", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2)
    def lane_new():
        @task
        def make(**context):
            return [context["ti"].try_number * 10 + i for i in range(5)]
        @task
        def work(x):
            return x
        @task
        def total(xs):
            return list(xs)
        total(work.expand(x=make()))
    lane_new()
    """)
    run = h.run("lane_new")
    rid = run["run_id"]
    assert h.store.get_xcom("lane_new", rid, "total") == [10, 11, 12, 13, 14]
    first = h.store.get_run("lane_new", rid)["map_gen#work"]
    h.engine.clear("lane_new", rid, ["make"], downstream=True)
    h.drain()
    run = h.store.get_run("lane_new", rid)
    assert run["state"] == "success" and run["map_gen#work"] != first
    assert h.store.get_xcom("lane_new", rid, "total") == [20, 21, 22, 23, 24]


def test_a_lane_held_back_by_a_long_instance_has_its_waiting_instances_stolen(h):
    # Two lanes over 60 instances; work[0] is "long" (its message is held back). When lane 1 is
    # done, the free slot takes the middle of lane 0's waiting instances, and so on: the waiting
    # work moves to the free slot instead of waiting for work[0].
    _write(h, "lane_steal", n=60)
    run = h.start("lane_steal")
    rid = run["run_id"]
    held = next(m for m in h.dispatcher.tasks if m.map_index == 0)
    h.dispatcher.tasks.remove(held)
    ran_while_held: list[int] = []
    while h.dispatcher.tasks:
        msg = h.dispatcher.tasks.popleft()
        ran_while_held.append(msg.map_index)
        h.engine.handle_task(msg)
        busy = [t for t in h.store.list_tis("lane_steal", rid, "work") if t["state"] in ("queued", "running")]
        assert len(busy) <= 2
    lane0 = {i for i in ran_while_held if i % 2 == 0}
    # Stolen twice (from 30, then from 16) while more than CARRY_LIMIT instances per busy slot
    # were surely waiting; the last few wait for work[0].
    assert lane0 == set(range(16, 60, 2)), sorted(lane0)
    h.dispatcher.tasks.append(held)
    h.drain()
    run = h.store.get_run("lane_steal", rid)
    assert run["state"] == "success" and run["m#work#done"] == 60 and run["active_tasks"] == 0
    assert h.store.get_xcom("lane_steal", rid, "total") == list(range(60))
    assert {int(t["try_number"]) for t in h.store.list_tis("lane_steal", rid, "work")} == {1}


def test_a_lane_end_steals_only_where_some_lane_surely_holds_two_waiting_instances(h):
    # At least uncounted - active * CARRY_LIMIT instances wait, all in the busy lanes: one each
    # (a map's tail, lanes at most one apart) is no reason to query the task's instances.
    from orchestrator.engine import lanes
    from orchestrator.engine.constants import CARRY_LIMIT

    _write(h, "lane_tail", n=100)
    plan = h.plan("lane_tail")
    step = plan.step("work")

    def run(done: int, active: int) -> dict:
        return {"state": "running", "map_count#work": 100, "m#work#done": done, "active_tasks": active}

    assert not lanes.should_steal(plan, run(100 - 3 * CARRY_LIMIT - 3, 3), step)  # 3 waiting, 3 busy lanes
    assert lanes.should_steal(plan, run(100 - 3 * CARRY_LIMIT - 4, 3), step)  # 4 waiting: one lane holds two
    assert lanes.should_steal(plan, run(100 - 30, 0), step)  # every lane ended, 30 still wait
    assert not lanes.should_steal(plan, {**run(50, 1), "state": "failed"}, step)


def test_map_states_reads_each_stored_instance_s_map_index_and_state(h):
    _write(h, "lane_states", n=6)
    run = h.start("lane_states")
    h.engine.handle_task(h.dispatcher.tasks.popleft())
    states = h.store.map_states("lane_states", run["run_id"], "work")
    assert states == {int(t["map_index"]): t["state"] for t in h.store.list_tis("lane_states", run["run_id"], "work")}
    assert set(states.values()) >= {"success", "queued"} and len(states) == 3  # 0 done, 1 queued, 2 created by 0
