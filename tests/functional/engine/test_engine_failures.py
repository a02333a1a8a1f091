from __future__ import annotations

import json

from orchestrator.engine.messages import OnFailureRecord
from orchestrator.engine.rules import retry_delay_s

FLAKY = """
@dag(schedule=None, start_date=datetime(2026, 1, 1))
def flaky():
    @task(retries=3, retry_delay=timedelta(seconds=10), retry_exponential_backoff=True,
          max_retry_delay=timedelta(seconds=25))
    def shaky(**context):
        if context["ti"].try_number < 3:
            raise RuntimeError(f"try {context['ti'].try_number} failed")
        return context["ti"].try_number
    @task
    def after(x):
        return x
    after(shaky())
flaky()
"""


def test_retries_with_backoff_then_success_keeps_history(h):
    h.write("flaky", FLAKY)
    run = h.run("flaky")
    assert run["state"] == "success"
    ti = h.store.get_ti("flaky", run["run_id"], "shaky")
    assert ti["state"] == "success" and ti["try_number"] == 3
    assert [x["try_number"] for x in ti["history"]] == [1, 2]
    assert "try 1 failed" in ti["history"][0]["error"]
    delays = [d for t, _, d in h.dispatcher.retry_delays if t == "shaky"]
    policy = h.plan("flaky").step("shaky").retry
    expected = [retry_delay_s(policy, n, dag_id="flaky", task_id="shaky", logical_date=run["logical_date"])
                for n in (1, 2)]
    assert delays == expected
    assert 10 <= delays[0] < 20 and 20 <= delays[1] <= 25  # [10, 20) then [20, 40) capped at 25 s
    assert h.store.get_xcom("flaky", run["run_id"], "after") == 3


def test_retries_exhausted_fails(h):
    h.write("always", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def always():
        @task(retries=1, retry_delay=0)
        def bad():
            raise RuntimeError("nope")
        bad()
    always()
    """)
    run = h.run("always")
    ti = h.store.get_ti("always", run["run_id"], "bad")
    assert ti["state"] == "failed" and ti["try_number"] == 2 and "RuntimeError: nope" in ti["error"]
    assert run["state"] == "failed"


def test_execution_timeout_fails_the_try_and_retries(h):
    h.write("slow", """
    import time
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def slow():
        @task(execution_timeout=timedelta(seconds=0.3), retries=1, retry_delay=0)
        def sleepy(**context):
            if context["ti"].try_number == 1:
                time.sleep(5)
            return "fast enough"
        sleepy()
    slow()
    """)
    run = h.run("slow")
    ti = h.store.get_ti("slow", run["run_id"], "sleepy")
    assert ti["state"] == "success" and ti["try_number"] == 2
    assert "timed out after 0.3s (execution_timeout)" in ti["history"][0]["error"]


def test_execution_timeout_outside_the_main_thread(h):
    import threading

    h.write("slow2", """
    import time
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def slow2():
        @task(execution_timeout=0.3)
        def sleepy():
            for _ in range(100):
                time.sleep(0.05)
        sleepy()
    slow2()
    """)
    h.start("slow2")
    msg = h.dispatcher.tasks.popleft()
    t = threading.Thread(target=h.engine.handle_task, args=(msg,))
    t.start()
    t.join(30)
    ti = h.store.get_ti("slow2", msg.run_id, "sleepy")
    assert ti["state"] == "failed" and "Task 'sleepy' timed out after 0.3s" in ti["error"]


def _record(msg, condition="RetriesExhausted", error=None):
    return {
        "version": "1.0", "timestamp": "2026-01-01T00:00:00.000Z",
        "requestContext": {"requestId": "r1", "functionArn": "arn:aws:lambda:us-east-1:1:function:w:$LATEST",
                           "condition": condition, "approximateInvokeCount": 3},
        "requestPayload": json.loads(msg.model_dump_json()),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error or {"errorMessage": "Task timed out after 900.00 seconds"},
    }


def test_onfailure_record_for_crashed_worker_retries_then_fails(h):
    h.write("crash", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def crash():
        @task(retries=1, retry_delay=0)
        def victim():
            return 1
        @task
        def after():
            return 2
        victim() >> after()
    crash()
    """)
    run = h.start("crash")
    msg = h.dispatcher.tasks.popleft()
    # The worker claimed the try and then the container died: Lambda sends the OnFailure record.
    h.store.claim_ti(msg.dag_id, msg.run_id, msg.task_id, -1, 1, deadline=0)
    event = {"Records": [{"messageId": "m1", "body": json.dumps(_record(msg))}]}
    assert h.conductor.handle_event(event) == {"batchItemFailures": []}
    assert h.conductor.handle_event(event) == {"batchItemFailures": []}  # duplicate record: no-op
    ti = h.store.get_ti("crash", run["run_id"], "victim")
    assert ti["state"] == "up_for_retry" and "Task timed out after 900.00 seconds" in ti["error"]
    retry_msg, _ = h.dispatcher.retries.popleft()
    h.conductor.retry(retry_msg)
    second = h.dispatcher.tasks.popleft()
    assert second.try_number == 2
    h.store.claim_ti(second.dag_id, second.run_id, second.task_id, -1, 2, deadline=0)
    rec = OnFailureRecord.model_validate(_record(second, error={"errorType": "Runtime.ExitError",
                                                                 "errorMessage": "signal: killed"}))
    assert h.conductor.on_failure(rec) == "failed"
    run = h.store.get_run("crash", run["run_id"])
    assert run["state"] == "failed"
    assert h.states("crash", run["run_id"]) == {"victim": "failed", "after": "upstream_failed"}
    assert "Runtime.ExitError: signal: killed" in h.store.get_ti("crash", run["run_id"], "victim")["error"]


def test_malformed_conductor_message_is_dropped_not_redelivered(h):
    out = h.conductor.handle_event({"Records": [{"messageId": "x", "body": "{not json"}]})
    assert out == {"batchItemFailures": []}


def test_multi_megabyte_output_goes_through_s3(h):
    h.write("big_out", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def big_out():
        @task
        def produce():
            return {"blob": "x" * (3 * 1024 * 1024), "n": 1}
        @task
        def consume(data):
            return len(data["blob"]) + data["n"]
        consume(produce())
    big_out()
    """)
    run = h.run("big_out")
    ti = h.store.get_ti("big_out", run["run_id"], "produce")
    assert "xcom" not in ti and ti["xcom_s3"].startswith("xcom/big_out/")
    assert h.store.get_xcom("big_out", run["run_id"], "consume") == 3 * 1024 * 1024 + 1


def test_every_message_delivered_twice_runs_each_body_once_per_try(h, tmp_path):
    marker = tmp_path / "calls.txt"
    h.write("dup", f"""
    MARKER = {str(marker)!r}
    def note(name, **context):
        with open(MARKER, "a") as f:
            f.write(f"{{name}}:{{context['ti'].map_index}}:{{context['ti'].try_number}}\\n")
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def dup():
        @task(retries=1, retry_delay=0)
        def first(**context):
            note("first", **context)
            if context["ti"].try_number == 1:
                raise RuntimeError("once")
            return [1, 2, 3]
        @task
        def each(x, **context):
            note("each", **context)
            return x * 10
        @task
        def total(xs, **context):
            note("total", **context)
            return sum(xs)
        total(each.expand(x=first()))
    dup()
    """)
    run = h.run("dup", duplicate=True)
    assert run["state"] == "success" and h.store.get_xcom("dup", run["run_id"], "total") == 60
    calls = marker.read_text().split()
    assert sorted(calls) == sorted(["first:-1:1", "first:-1:2", "each:0:1", "each:1:1", "each:2:1", "total:-1:1"])


def test_callbacks_are_called_and_their_errors_never_fail_tasks(h, tmp_path):
    marker = tmp_path / "cb.txt"
    h.write("cbs", f"""
    MARKER = {str(marker)!r}
    def rec(tag):
        def cb(context):
            with open(MARKER, "a") as f:
                f.write(f"{{tag}}:{{context['ti'].task_id if context.get('ti') else context['dag_run'].run_id[:6] + '/' + context['dag_run'].state}}\\n")
        return cb
    def broken(context):
        raise RuntimeError("callback bug")
    @dag(schedule=None, start_date=datetime(2026, 1, 1), on_failure_callback=rec("dag_failure"))
    def cbs():
        @task(on_success_callback=[broken, rec("success")], on_execute_callback=rec("execute"))
        def good():
            return 1
        @task(retries=1, retry_delay=0, on_retry_callback=rec("retry"), on_failure_callback=rec("failure"))
        def bad():
            raise RuntimeError("x")
        @task(on_skipped_callback=rec("skipped"))
        def skipper():
            raise AirflowSkipException()
        good() >> bad()
        skipper()
    cbs()
    """)
    run = h.run("cbs")
    assert run["state"] == "failed"
    lines = marker.read_text().split()
    assert lines == ["execute:good", "success:good", "retry:bad", "skipped:skipper", "failure:bad",
                     "dag_failure:manual/failed"] or sorted(lines) == sorted(
        ["execute:good", "success:good", "retry:bad", "skipped:skipper", "failure:bad", "dag_failure:manual/failed"])
    assert h.store.get_ti("cbs", run["run_id"], "good")["state"] == "success"
