from __future__ import annotations

from datetime import datetime, timezone


def test_chain_runs_with_xcom_and_context(h):
    h.write("chain", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1), params={"n": Param(2, type="integer")})
    def chain():
        @task
        def extract(**context):
            return {"n": context["params"]["n"], "ds": context["ds"], "try": context["ti"].try_number,
                    "run_id": context["run_id"], "conf": context["dag_run"].conf}
        @task
        def double(row):
            return row["n"] * 2
        @task
        def load(x):
            return x + 1
        load(double(extract()))
    chain()
    """)
    run = h.run("chain", conf={"n": 5}, logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    assert run["state"] == "success"
    assert run["run_id"] == "manual__2026-03-04T00:00:00+00:00"
    assert h.states("chain", run["run_id"]) == {"double": "success", "extract": "success", "load": "success"}
    first = h.store.get_xcom("chain", run["run_id"], "extract")
    assert first == {"n": 5, "ds": "2026-03-04", "try": 1, "run_id": run["run_id"], "conf": {"n": 5}}
    assert h.store.get_xcom("chain", run["run_id"], "load") == 11
    again = h.engine.start_run("chain", run_id=run["run_id"])
    assert again["state"] == "success" and len(h.dispatcher.invoked) == 3
