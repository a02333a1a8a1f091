"""A sensor's try between pokes: ``running -> up_for_reschedule -> queued`` with the same try number.

Airflow's reschedule mode, on the run table (docs/internals.md, "Sensors")::

    worker: claim (queued -> running, try n) .. poke() says "not yet"
            reschedule_ti: running -> up_for_reschedule, pokes += 1, next_try_at   (this module)
            timer (SQS delay or one-time schedule) -> conductor, nothing runs meanwhile
    conductor: requeue_poke: up_for_reschedule (try n, pokes p) -> queued         (this module)
            -> async invoke -> the worker's claim as for any try

The try number does not move (a poke is not a try); ``pokes`` counts the pokes that ended
"not yet", so a timer message delivered twice (SQS is at least once), or a stale one after a
clear, finds another count and does nothing. ``first_poke_at``/``first_poke_try`` remember
when the try's first poke started: a sensor's ``timeout`` counts from there.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from orchestrator.store import dynamo as d
from orchestrator.store.base import Update
from orchestrator.store.instances import InstancesMixin, _fenced


class RescheduleMixin(InstancesMixin):
    def reschedule_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                      next_try_at: str, first_poke_at: str, fields: dict[str, Any],
                      owner: str | None = None) -> dict[str, Any]:
        """running -> up_for_reschedule for try ``try_number``; returns the item (``pokes`` counted).

        ``owner``: the invocation that claimed the poke (``claim_ti``), as for a terminal write.
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = _fenced(owner, Update(
            set_={"state": "up_for_reschedule", "next_try_at": next_try_at, "first_poke_at": first_poke_at,
                  "first_poke_try": try_number, "deadline": None, **fields},
            add={"pokes": 1},
            # The worker and the conductor (a timed-out invocation reported late) may both end
            # this poke: only a try still running moves, and only once.
            condition="#state = :running AND #try = :n",
            names={"#state": "state", "#try": "try_number"}, values={":running": "running", ":n": try_number},
        ))
        item = self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] try {try_number} -> up_for_reschedule",
                            returns="ALL_NEW")
        assert item is not None
        return item

    def requeue_poke(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                     pokes: int, deadline: int) -> dict[str, Any]:
        """up_for_reschedule (try n, after ``pokes`` pokes) -> queued (try n); returns the item."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = Update(
            set_={"state": "queued", "queued_at": d.now_iso(), "deadline": deadline, "next_try_at": None},
            # A timer delivered twice finds the poke queued (or a later count): a no-op. So does a
            # timer left over from before a clear or a mark.
            condition="#state = :ufr AND #try = :n AND #pokes = :p",
            names={"#state": "state", "#try": "try_number", "#pokes": "pokes"},
            values={":ufr": "up_for_reschedule", ":n": try_number, ":p": pokes},
        )
        item = self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] try {try_number} poke {pokes + 1}",
                            returns="ALL_NEW")
        assert item is not None
        return item

    def runs_at(self, dag_id: str, logical_date: datetime) -> list[dict[str, Any]]:
        """The runs of ``dag_id`` at ``logical_date`` (a ``gsi1`` query and a batch get; ExternalTaskSensor)."""
        stamp = logical_date.astimezone(timezone.utc).isoformat()
        # The index holds keys and state only: the items themselves come from the table.
        keys = list(self._query(d.dag_pk(dag_id), prefix=f"{stamp}#", index=d.GSI1))
        return self._batch_get(keys) if keys else []
