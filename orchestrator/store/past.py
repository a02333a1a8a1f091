"""Items behind ``depends_on_past`` (``engine.past``): runs by logical date, waiting instances.

::

    DAG#{dag_id} / PAST#{logical_date}#{run_id}            run_id, run_type, plan_hash  (written with the run)
    RUN#{dag_id}#{prev_run_id} / PASTWAIT#{run_id}#{task}   run_id, task_id, on (task ids of prev)
    RUN#{dag_id}#{run_id} / TI#{task}#-00001                state "none", note, past_wait (the wait)

The ``PAST#`` entries exist for runs of plans with a ``depends_on_past`` task; a strongly
consistent query finds the previous run (the index ``gsi1`` is eventually consistent: a run
created a moment before would be missed, and two backfill runs would then both run). A
waiter lives in the partition of the run waited on, so that run's completer finds it with one
query of its own partition. Every key stays within the DAG's own partitions
(``DAG#{dag_id}``, ``RUN#{dag_id}#*``), which is all a DAG's own role may reach
(``cli.isolation``).
"""

from __future__ import annotations

from typing import Any, Iterator

from botocore.exceptions import ClientError

from orchestrator.errors import ConflictError, StoreError
from orchestrator.store import dynamo as d
from orchestrator.store.base import StoreBase, Update
from orchestrator.store.instances import NONE_STATE

PAST_PREFIX = "PAST#"
WAIT_PREFIX = "PASTWAIT#"


def past_entry(run: dict[str, Any]) -> dict[str, Any]:
    """The ``PAST#`` item of a run item (put in the run's creating transaction, ``create_run``)."""
    dag_id, run_id, logical_date = run["dag_id"], run["run_id"], run["logical_date"]
    return {"pk": d.dag_pk(dag_id), "sk": f"{PAST_PREFIX}{logical_date}#{run_id}", "dag_id": dag_id,
            "run_id": run_id, "run_type": str(run.get("run_type")), "logical_date": logical_date,
            "plan_hash": run.get("plan_hash")}


class PastMixin(StoreBase):
    def previous_runs(self, dag_id: str, logical_date: str) -> Iterator[dict[str, Any]]:
        """``PAST#`` entries of runs with a logical date before ``logical_date``, newest first."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            # sk < PAST#{logical_date}: same-date entries carry "#run_id" after it and sort later.
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": d.serialize(d.dag_pk(dag_id)), ":lo": d.serialize(PAST_PREFIX),
                                          ":hi": d.serialize(f"{PAST_PREFIX}{logical_date}")},
            "ScanIndexForward": False, "ConsistentRead": True, "Limit": 10,
        }
        while True:
            resp = self.ddb.query(**kwargs)
            for raw in resp.get("Items", []):
                yield d.from_item(raw) or {}
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def index_past_runs(self, dag_id: str) -> int:
        """Enter the DAG's existing runs by logical date (when a plan first uses depends_on_past:
        the runs before it have no entry, and the first run after it would see none); returns
        how many. Idempotent puts; the runs are listed from the index, which only old runs are in
        by now (a run created meanwhile by the new plan writes its own entry)."""
        n = 0
        for run in self.list_runs(dag_id, limit=1_000_000, newest_first=False):  # type: ignore[attr-defined]
            if run.get("logical_date") and run.get("run_id"):
                self._put(past_entry(run), what=f"date entry of run '{run['run_id']}'")
                n += 1
        return n

    def wait_ti(self, dag_id: str, run_id: str, task_id: str, *, note: str, prev_run_id: str | None) -> None:
        """Record that a task waits for the previous run: its instance (map index -1) at "none".

        ConflictError when the instance exists in another state (another writer queued or decided it).
        """
        pk, sk = d.run_pk(dag_id, run_id), d.ti_sk(task_id, -1)
        upd = Update(
            set_={"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": -1, "state": NONE_STATE,
                  "note": note, "past_wait": prev_run_id or "-"},
            keep={"try_number": 0, "max_tries": 0},
            # A completer of the previous run releasing it at this moment queues it first: then it
            # stays queued (this write finds it no longer absent or "none").
            condition="attribute_not_exists(pk) OR #state = :none",
            names={"#state": "state"}, values={":none": NONE_STATE},
        )
        self._update(pk, sk, upd, what=f"task '{task_id}' of run '{run_id}' (waiting for the past)")

    def drop_waiting_ti(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Delete a mapped task's waiting item (its instances are created by the expansion)."""
        try:
            self.ddb.delete_item(
                TableName=self.table, Key=self._key(d.run_pk(dag_id, run_id), d.ti_sk(task_id, -1)),
                # Only the wait itself: never an instance that has been decided since.
                ConditionExpression="#state = :none AND attribute_exists(#pw)",
                ExpressionAttributeNames={"#state": "state", "#pw": "past_wait"},
                ExpressionAttributeValues={":none": d.serialize(NONE_STATE)})
        except ClientError as err:
            if not d.is_conditional_failure(err):
                raise StoreError(f"Deleting the wait of task '{task_id}' of run '{run_id}' failed: {err}") from err

    def put_past_waiter(self, dag_id: str, prev_run_id: str, run_id: str, task_id: str, on: list[str]) -> None:
        """Ask the completer of ``on`` in run ``prev_run_id`` to look at ``task_id`` of ``run_id`` again."""
        self._put({"pk": d.run_pk(dag_id, prev_run_id), "sk": f"{WAIT_PREFIX}{run_id}#{task_id}",
                   "dag_id": dag_id, "run_id": run_id, "task_id": task_id, "on": sorted(on)},
                  what=f"past waiter of task '{task_id}' of run '{run_id}'")

    def past_waiters(self, dag_id: str, prev_run_id: str) -> list[dict[str, Any]]:
        """The waiters registered on run ``prev_run_id`` (one query of its partition)."""
        return list(self._query(d.run_pk(dag_id, prev_run_id), prefix=WAIT_PREFIX))

    def drop_past_waiter(self, dag_id: str, prev_run_id: str, run_id: str, task_id: str) -> None:
        try:
            self._delete(d.run_pk(dag_id, prev_run_id), f"{WAIT_PREFIX}{run_id}#{task_id}",
                         what=f"past waiter of task '{task_id}' of run '{run_id}'")
        except ConflictError:
            pass
