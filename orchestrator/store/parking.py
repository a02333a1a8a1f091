"""Creating many instances in one transaction: queued with their slots, or parked while the run is full.

``queue_many`` queues the heads of a fan-out's lanes (``engine.lanes``) with one run-item write
for all their ``max_active_tasks`` slots.

``InstancesMixin.queue_ti`` parks one instance per transaction, after a first transaction
that failed to take a slot: two calls per instance. A big map expanded into a full run
(``engine.expansion``) parks up to ``PARK_BATCH`` instances in one ``TransactWriteItems``
instead: each instance item and its ``SCHED#`` marker, plus ``sched_waiting += n`` on the run
item. BatchWriteItem would be cheaper but cannot be conditional; here every instance keeps
its creation condition, so a duplicate executor of the same chunk changes nothing.
"""

from __future__ import annotations

from typing import Any

from orchestrator.store import dynamo as d
from orchestrator.store.base import Update
from orchestrator.store.instances import SCHED_PREFIX, InstancesMixin
from orchestrator.store.runs import RUN_SK

# TransactWriteItems takes 100 items: two per instance (item + marker) and the run item.
PARK_BATCH = 49


class ParkingMixin(InstancesMixin):
    def park_tis(self, dag_id: str, run_id: str, task_id: str, map_indexes: list[int], *, retries: int,
                 max_active_tasks: int, require_full: bool = True) -> None:
        """Create new instances ``scheduled`` (try 1, each with its marker) in one transaction.

        With ``require_full``, only while the run is full (``active_tasks >= max_active_tasks``);
        without it the caller must call ``Engine.promote`` after the commit. Raises ConflictError
        with ``.reasons`` per item: the last one is the run item (a slot is free: queue the next
        instance instead); an instance's failure means it exists already (another executor, or
        a cleared instance, which ``queue_ti`` handles one by one).
        """
        if not 0 < len(map_indexes) <= PARK_BATCH:
            raise ValueError(f"park_tis takes 1 to {PARK_BATCH} map indexes, got {len(map_indexes)}")
        pk = d.run_pk(dag_id, run_id)
        now = d.now_iso()
        items = []
        for i in map_indexes:
            # The instance's own condition (no item yet) makes a duplicate chunk a no-op.
            ti_upd = self._new_ti(dag_id, run_id, task_id, i, "scheduled", 0, retries, {"scheduled_at": now})
            items.append(self._tx_update(pk, d.ti_sk(task_id, i), ti_upd))
            items.append(self._tx_put({"pk": pk, "sk": f"{SCHED_PREFIX}{task_id}#{i:06d}", "task_id": task_id,
                                       "map_index": i, "try_number": 1}))
        if require_full:
            wait = Update(
                add={"sched_waiting": len(map_indexes)},
                # As in queue_ti: park only while the run is still full, so a completer that frees a
                # slot after this commit sees the waiting count and promotes.
                condition="#at >= :max", names={"#at": "active_tasks"}, values={":max": max_active_tasks},
            )
        else:
            # The caller promotes right after (Engine.promote): a slot freed before this commit,
            # when nobody was waiting, is taken then; one freed after it is promoted by its completer.
            wait = Update(add={"sched_waiting": len(map_indexes)})
        items.append(self._tx_update(pk, RUN_SK, wait))
        self._transact(items, what=f"parking {len(map_indexes)} instances of task '{task_id}' of run '{run_id}'")

    def queue_many(self, dag_id: str, run_id: str, tis: list[tuple[str, int, dict[str, Any]]], *, deadline: int,
                   max_active_tasks: int) -> list[dict[str, Any]]:
        """Create new instances ``queued`` (try 1) and take a slot for each, in one transaction.

        ``tis``: ``(task_id, retries, attrs)``. All or nothing: ConflictError when an instance
        exists already or the run has fewer free slots than instances (the caller then queues
        them one by one). Returns the queued items.
        """
        if not 0 < len(tis) <= PARK_BATCH * 2:
            raise ValueError(f"queue_many takes 1 to {PARK_BATCH * 2} instances, got {len(tis)}")
        pk = d.run_pk(dag_id, run_id)
        now = d.now_iso()
        items, out = [], []
        for task_id, retries, attrs in tis:
            extra = {"queued_at": now, "deadline": deadline, **{k: v for k, v in attrs.items() if v}}
            # Try 1 only: a cleared instance (try >= 1) fails this and goes through queue_ti.
            upd = self._new_ti(dag_id, run_id, task_id, -1, "queued", 0, retries, extra)
            items.append(self._tx_update(pk, d.ti_sk(task_id, -1), upd))
            out.append({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": -1, "state": "queued",
                        "try_number": 1, "max_tries": retries, **extra})
        take = Update(add={"active_tasks": len(tis)},
                      condition="attribute_not_exists(#at) OR #at <= :room", names={"#at": "active_tasks"},
                      values={":room": max_active_tasks - len(tis)})
        items.append(self._tx_update(pk, RUN_SK, take))
        self._transact(items, what=f"queueing {len(tis)} tasks of run '{run_id}'")
        return out
