"""Run items: ``RUN#{dag_id}#{run_id}/RUN``, the run-id index and the per-DAG run slots.

Run slots (``max_active_runs``) are a counter on the registry item (``active_runs``) taken
and released in the same transaction as the run's state change, so a crash can neither leak
nor double-count a slot. A queued run (not yet holding a slot) has a marker
``DAG#{dag_id}/QRUN#{logical_date}#{run_id}``, written with the run item itself and deleted by
the start that takes the slot, so the next one is found with one query, oldest logical date
first, and a run whose creator died before starting it is still found (by the sweeper).
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from orchestrator.errors import ConflictError, NotFoundError, StoreError
from orchestrator.store import dynamo as d
from orchestrator.store.base import StoreBase, Update

RUN_SK = "RUN"
QRUN_PREFIX = "QRUN#"
ACTIVE_PREFIX = "ACTIVE#"


def _waiting_marker(dag_id: str, run_id: str, logical_date: str | None) -> dict[str, Any]:
    return {"pk": d.dag_pk(dag_id), "sk": f"{QRUN_PREFIX}{logical_date or ''}#{run_id}", "dag_id": dag_id,
            "run_id": run_id}


def _active_marker(dag_id: str, run_id: str) -> dict[str, Any]:
    return {"pk": d.dag_pk(dag_id), "sk": f"{ACTIVE_PREFIX}{run_id}", "dag_id": dag_id, "run_id": run_id}


class RunsMixin(StoreBase):
    def create_run(self, run: dict[str, Any], *, by_date: bool = False) -> tuple[dict[str, Any], bool]:
        """Create a run item; returns ``(run, created)``. Idempotent on ``(dag_id, run_id)``.

        ``run`` holds the contract's attributes (dag_id, run_id, state, run_type, logical_date,
        ...); keys and GSI attributes are added here. A second call with the same ids returns
        the stored run and ``created=False``. ``by_date``: also write the run's ``PAST#`` entry
        (``store.past``: its plan has a ``depends_on_past`` task).
        """
        dag_id, run_id = run["dag_id"], run["run_id"]
        item = {
            **run,
            "pk": d.run_pk(dag_id, run_id),
            "sk": RUN_SK,
            "gsi1pk": d.dag_pk(dag_id),
            "gsi1sk": f"{run.get('logical_date') or run.get('queued_at') or ''}#{run_id}",
        }
        pointer = {"pk": d.runid_pk(run_id), "sk": d.dag_pk(dag_id), "dag_id": dag_id, "run_id": run_id}
        puts = [self._tx_put(item, "attribute_not_exists(pk)"), self._tx_put(pointer)]
        if run.get("state") == "queued":
            puts.append(self._tx_put(_waiting_marker(dag_id, run_id, run.get("logical_date"))))
        if by_date and run.get("logical_date"):
            from orchestrator.store.past import past_entry

            puts.append(self._tx_put(past_entry(run)))
        try:
            # Two triggers racing on the same run id (a schedule fired twice, a retried API
            # call): the first put wins, the second finds the item and returns it unchanged.
            self._transact(puts, what=f"run '{run_id}' of DAG '{dag_id}'")
        except ConflictError:
            return self.get_run(dag_id, run_id), False
        return d.from_item(d.to_item(item)) or item, True  # normalised like a read

    def get_run(self, dag_id: str, run_id: str, *, consistent: bool = True) -> dict[str, Any]:
        """The run item. Raises NotFoundError naming the DAG and run."""
        item = self._get(d.run_pk(dag_id, run_id), RUN_SK, consistent=consistent)
        if item is None:
            raise NotFoundError(f"Run '{run_id}' of DAG '{dag_id}' does not exist.")
        return item

    # -- cross-DAG requests of an isolated worker (orchestrator.triggers.requests): the item sits
    # in the asking DAG's own partition, which only that DAG's worker role (and the platform's
    # functions) may write, so where it is says who asked.
    def put_request(self, dag_id: str, run_id: str, sk: str, fields: dict[str, Any]) -> None:
        """Write request ``sk`` under run ``run_id`` of ``dag_id`` (a fresh key: nothing to race)."""
        self._put({"pk": d.run_pk(dag_id, run_id), "sk": sk, **fields}, what=f"request of DAG '{dag_id}'")

    def get_request(self, dag_id: str, run_id: str, sk: str) -> dict[str, Any] | None:
        """Request ``sk`` of run ``run_id`` of ``dag_id``, or None."""
        return self._get(d.run_pk(dag_id, run_id), sk)

    def find_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Runs with this run id in any DAG (query on the ``RUNID#{run_id}`` pointers, no scan)."""
        out = []
        for ptr in self._query(d.runid_pk(run_id)):
            try:
                out.append(self.get_run(ptr["dag_id"], run_id))
            except NotFoundError:
                continue
        return out

    def find_run(self, run_id: str) -> dict[str, Any]:
        """The one run with this run id. Raises NotFoundError, or StoreError when several DAGs have it."""
        runs = self.find_runs(run_id)
        if not runs:
            raise NotFoundError(f"No run with run id '{run_id}' exists in any DAG.")
        if len(runs) > 1:
            dags = ", ".join(sorted(repr(r["dag_id"]) for r in runs))
            raise StoreError(f"Run id '{run_id}' exists in several DAGs ({dags}); name the DAG too.")
        return runs[0]

    def list_runs(self, dag_id: str, limit: int = 25, states: Iterable[str] | None = None,
                  newest_first: bool = True) -> list[dict[str, Any]]:
        """Runs of a DAG by logical date (newest first by default), optionally only some states."""
        wanted = list(states or [])
        filter_, names, vals = None, None, None
        if wanted:
            keys = [f":st{i}" for i in range(len(wanted))]
            filter_ = f"#state IN ({', '.join(keys)})"
            names = {"#state": "state"}
            vals = dict(zip(keys, wanted))
        return list(self._query_index(d.dag_pk(dag_id), forward=not newest_first, limit=limit,
                                      filter_=filter_, names=names, vals=vals))

    def count_active_runs(self, dag_id: str) -> int:
        """Runs of the DAG holding a slot (state running), from the registry counter."""
        item = self._get(d.dag_pk(dag_id), "META")
        return int((item or {}).get("active_runs", 0))

    def start_run_if_slot(self, dag_id: str, run_id: str, max_active_runs: int, start_date: str, *,
                          logical_date: str | None = None) -> bool:
        """queued -> running if the DAG has a free run slot; returns False (run stays queued) if not.

        Raises ConflictError if the run is no longer queued.
        """
        take_slot = Update(
            add={"active_runs": 1},
            # Two runs finishing/starting at once: the counter check and the increment are one
            # atomic step, so max_active_runs is never exceeded.
            condition="attribute_not_exists(#ar) OR #ar < :max",
            names={"#ar": "active_runs"},
            values={":max": max_active_runs},
        )
        start = Update(
            set_={"state": "running", "start_date": start_date},
            # A duplicate start (sweeper and a finishing run both promoting this run): only the
            # one that still sees it queued takes the slot.
            condition="#state = :queued",
            names={"#state": "state"},
            values={":queued": "queued"},
        )
        try:
            self._transact(
                [
                    self._tx_update(d.dag_pk(dag_id), "META", take_slot),
                    self._tx_update(d.run_pk(dag_id, run_id), RUN_SK, start),
                    self._tx_delete(d.dag_pk(dag_id), self._qrun_sk(dag_id, run_id, logical_date)),
                    self._tx_put(_active_marker(dag_id, run_id)),
                ],
                what=f"start of run '{run_id}' of DAG '{dag_id}'",
            )
        except ConflictError as exc:
            reasons = getattr(exc, "reasons", [])
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise
            return False
        return True

    def _qrun_sk(self, dag_id: str, run_id: str, logical_date: str | None = None) -> str:
        if logical_date is None:
            logical_date = (self._get(d.run_pk(dag_id, run_id), RUN_SK) or {}).get("logical_date")
        return f"{QRUN_PREFIX}{logical_date or ''}#{run_id}"

    def list_active_runs(self, dag_id: str) -> list[str]:
        """Run ids of the DAG in state running (``ACTIVE#`` markers: one query, no history scan)."""
        return [i["run_id"] for i in self._query(d.dag_pk(dag_id), prefix=ACTIVE_PREFIX)]

    def drop_waiting_marker(self, dag_id: str, marker_sk: str) -> None:
        """Delete a waiting marker whose run is no longer queued (or no longer exists)."""
        self._delete(d.dag_pk(dag_id), marker_sk, what=f"waiting marker '{marker_sk}' of DAG '{dag_id}'")

    def next_waiting_runs(self, dag_id: str, limit: int = 1) -> list[str]:
        """Run ids waiting for a slot, oldest logical date first."""
        return [i["run_id"] for i in self.next_waiting_markers(dag_id, limit)]

    def next_waiting_markers(self, dag_id: str, limit: int = 1) -> list[dict[str, Any]]:
        """The waiting markers themselves (``run_id`` and the marker's ``sk``), oldest first."""
        return list(self._query(d.dag_pk(dag_id), prefix=QRUN_PREFIX, limit=limit))

    def finish_run(self, dag_id: str, run_id: str, state: str, end_date: str, *,
                   extra: dict[str, Any] | None = None, now: int | None = None,
                   counted: tuple[int, int] | None = None) -> None:
        """running -> success/failed and release the run slot, atomically. ConflictError if not running.

        ``counted``: ``(tasks_total, leaf_failed)`` the caller decided on; the run then finishes
        only while its stored counters still say so (every task done, that many failed leaves).
        """
        finish = Update(
            set_={"state": state, "end_date": end_date, **(extra or {})},
            # The last two tasks finishing together, or the sweeper's dagrun_timeout racing a
            # completion: only the first writer finalises and releases the slot. A clear or mark
            # in progress (``fence_run``) holds the run open: the counters a completion read may
            # still count the instances it is resetting.
            condition="#state = :running AND (attribute_not_exists(#fence) OR #fence < :now)",
            names={"#state": "state", "#fence": "clearing_until"},
            values={":running": "running", ":now": int(time.time()) if now is None else now},
        )
        if counted is not None:
            # The fence alone left a gap: a worker reads 4/4, then a whole clear lands (fence,
            # reset, recount to 3/4 lifting the fence, the task queued again), then the worker's
            # finish finds the run running and unfenced and finishes it with the cleared task's
            # new try queued. Its counts must still hold when it writes. Whoever changed them
            # (a recount, a completion) checks the finish itself afterwards.
            finish.condition = f"{finish.condition} AND #done >= :total AND #lf = :lf"
            finish.names.update({"#done": "tasks_done", "#lf": "leaf_failed"})
            finish.values.update({":total": counted[0], ":lf": counted[1]})
        release = Update(add={"active_runs": -1})
        self._transact(
            [self._tx_update(d.run_pk(dag_id, run_id), RUN_SK, finish),
             self._tx_update(d.dag_pk(dag_id), "META", release),
             self._tx_delete(d.dag_pk(dag_id), f"{ACTIVE_PREFIX}{run_id}")],
            what=f"finish of run '{run_id}' of DAG '{dag_id}'",
        )

    def fence_run(self, dag_id: str, run_id: str, *, until: int) -> None:
        """Hold the run open while a clear or mark rewrites it: ``finish_run`` refuses until
        ``maintenance.recount`` removes the fence, or ``until`` (epoch s) if the clear died."""
        self.update_run(dag_id, run_id, Update(set_={"clearing_until": until}))

    def reopen_run(self, dag_id: str, run_id: str, *, take_slot: bool) -> None:
        """A finished run back to running (clear / mark); takes a run slot when it had released one."""
        # Unconditional on purpose (clear/mark by a user): the caller re-derives the counters and
        # finalises again through reconcile, whose finish_run is conditional on running.
        reopen = Update(set_={"state": "running", "end_date": None})
        items = [self._tx_update(d.run_pk(dag_id, run_id), RUN_SK, reopen), self._tx_put(_active_marker(dag_id, run_id))]
        if take_slot:
            items.append(self._tx_update(d.dag_pk(dag_id), "META", Update(add={"active_runs": 1})))
        self._transact(items, what=f"re-opening run '{run_id}' of DAG '{dag_id}'")

    def update_run(self, dag_id: str, run_id: str, upd: Update, *, returns: str = "NONE") -> dict[str, Any] | None:
        """A raw conditional update of the run item (engine internals)."""
        return self._update(d.run_pk(dag_id, run_id), RUN_SK, upd, what=f"run '{run_id}' of DAG '{dag_id}'",
                            returns=returns)
