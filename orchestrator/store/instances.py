"""Task-instance items: ``RUN#{dag_id}#{run_id}/TI#{task_id}#{map_index:06d}``.

Every transition is a conditional write naming the state (and try number) it expects, so
a duplicate or late message finds the item elsewhere and raises ConflictError, which the
engine treats as "someone already did this". Terminal writes go in one transaction with the
run item's counters (docs/internals.md, "Counters for readiness").
"""

from __future__ import annotations

import random
from typing import Any, Iterable

from orchestrator.errors import ConflictError, NotFoundError
from orchestrator.store import dynamo as d
from orchestrator.store.base import StoreBase, Update
from orchestrator.store.runs import RUN_SK

NONE_STATE = "none"  # a cleared task instance: Airflow's "no status", history kept
SCHED_PREFIX = "SCHED#"
TERMINAL = ("success", "failed", "upstream_failed", "skipped", "removed")
# DynamoDB cancels a transaction that meets another one on the same item (TransactionConflict:
# many instances of a fan-out or map ending together all update the run item) or that is
# throttled. Nothing was written: StoreBase._transact sends it again after a jittered pause.

# What an unfinished instance carries for others (engine.lanes, Engine.complete): counts of
# finished steps or instances not yet on the run item, and the rest of its lane. Settled and
# removed by its terminal write.
RIDING = ("carry", "mcarry", "lcarry", "lane")

OUTPUTS = ("xcom", "xcom_s3", "xcom_keys")  # a try's XComs: inline, in S3, pushed keys
# The current try's rendered template fields (orchestrator.store.rendered). A retry or a clear
# moves them to the try's ``history`` entry, so the item's own value is always the current try's.
RENDERED = "rendered_fields"

# A task instance may be (re)created when it has no item, or was cleared.
_CREATABLE = "(attribute_not_exists(pk) OR (#state = :none AND #try = :prev))"


def _ti_names() -> dict[str, str]:
    return {"#state": "state", "#try": "try_number"}


def _fenced(owner: str | None, upd: Update) -> Update:
    """``upd`` made conditional on the try still being owned by invocation ``owner``.

    A late or duplicate invocation never writes over the try another invocation claimed: the
    claim stores the claimer's invocation id, and every write the try makes names it.
    """
    if owner is None:
        return upd
    upd.condition = f"({upd.condition}) AND #inv = :inv"
    upd.names["#inv"] = "invocation_id"
    upd.values[":inv"] = owner
    return upd


def states_by_index(items: Iterable[dict[str, Any]], task_id: str | None = None) -> dict[int, str]:
    """Map index -> state of the mapped instances among task-instance items (``task_id``: that task's only)."""
    return {int(ti["map_index"]): str(ti.get("state")) for ti in items
            if (task_id is None or ti["task_id"] == task_id) and int(ti.get("map_index", -1)) >= 0}


class InstancesMixin(StoreBase):
    def _transact_retrying(self, items: list[dict[str, Any]], *, what: str) -> None:
        """``_transact``: a cancellation for TransactionConflict or throttling is sent again there."""
        self._transact(items, what=what)

    def _ti_key(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[str, str]:
        return d.run_pk(dag_id, run_id), d.ti_sk(task_id, map_index)

    def _new_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, state: str,
                prev_try: int, retries: int, extra: dict[str, Any]) -> Update:
        return Update(
            set_={"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
                  "state": state, **extra},
            # A cleared instance decided without running has no outputs (queued: its try replaces them).
            # A wait for the previous run (store.past) ends here: its reason goes with it.
            remove=([] if state in ("queued", "scheduled") else list(OUTPUTS)) + ["past_wait"]
            + ([] if "note" in extra else ["note"]),
            raw_set=["#try = :newtry", "#mt = :maxtries"],
            # Two completions making the same task ready (two upstreams finishing together, a
            # sweeper reconciling while a worker dispatches): only the first creation succeeds.
            condition=_CREATABLE,
            names={**_ti_names(), "#mt": "max_tries"},
            values={":none": NONE_STATE, ":prev": prev_try, ":newtry": prev_try + (1 if state in (
                "queued", "scheduled") else 0), ":maxtries": prev_try + retries},
        )

    def queue_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, *, retries: int,
                 deadline: int, prev_try: int = 0, max_active_tasks: int | None = None,
                 attrs: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Create a ready task instance: ``queued`` with try ``prev_try + 1``; returns the item.

        With ``max_active_tasks`` the run's ``active_tasks`` slot counter is taken in the same
        transaction; when the run is full the instance is created ``scheduled`` with a marker
        instead and None is returned (``promote_scheduled`` queues it when a slot frees).
        Raises ConflictError when the instance already exists (and is not cleared). ``attrs``:
        more attributes of the new instance (a fan-out lane's ``lane``).
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        now = d.now_iso()
        attrs = {k: v for k, v in (attrs or {}).items() if v}
        extra = {"queued_at": now, "deadline": deadline, **attrs}
        if max_active_tasks is None:
            upd = self._new_ti(dag_id, run_id, task_id, map_index, "queued", prev_try, retries, extra)
            return self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] of run '{run_id}'",
                                returns="ALL_NEW")
        for _ in range(10):
            take = Update(
                add={"active_tasks": 1},
                # Completions freeing slots race with new tasks taking them: the check and the
                # increment are one atomic step on the run item.
                condition="attribute_not_exists(#at) OR #at < :max",
                names={"#at": "active_tasks"}, values={":max": max_active_tasks},
            )
            ti_upd = self._new_ti(dag_id, run_id, task_id, map_index, "queued", prev_try, retries, extra)
            try:
                self._transact_retrying([self._tx_update(pk, sk, ti_upd), self._tx_update(pk, RUN_SK, take)],
                                        what=f"queueing task '{task_id}'[{map_index}]")
                return {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
                        "state": "queued", "try_number": prev_try + 1, "max_tries": prev_try + retries, **extra}
            except ConflictError as exc:
                if getattr(exc, "reasons", ["x"])[0] == "ConditionalCheckFailed":
                    raise
            wait = Update(
                add={"sched_waiting": 1},
                # Only park the task while the run is still full: if a slot freed since the
                # check above, the completer may already have looked for waiting tasks.
                condition="#at >= :max", names={"#at": "active_tasks"}, values={":max": max_active_tasks},
            )
            ti_upd = self._new_ti(dag_id, run_id, task_id, map_index, "scheduled", prev_try, retries,
                                  {"scheduled_at": now, **attrs})
            marker = {"pk": pk, "sk": f"{SCHED_PREFIX}{task_id}#{map_index:06d}", "task_id": task_id,
                      "map_index": map_index, "try_number": prev_try + 1}
            try:
                self._transact_retrying([self._tx_update(pk, sk, ti_upd), self._tx_update(pk, RUN_SK, wait),
                                         self._tx_put(marker)], what=f"scheduling task '{task_id}'[{map_index}]")
                return None
            except ConflictError as exc:
                if getattr(exc, "reasons", ["x"])[0] == "ConditionalCheckFailed":
                    raise
        raise ConflictError(f"Could not queue task '{task_id}'[{map_index}] of run '{run_id}': slot contention")

    def promote_scheduled(self, dag_id: str, run_id: str, max_active_tasks: int, limit: int, *,
                          deadline: int | None = None) -> list[dict[str, Any]]:
        """Move up to ``limit`` scheduled instances to queued while slots are free; returns them.

        ``deadline`` (epoch s) is when the sweeper re-invokes a promoted try nobody claimed.
        """
        pk = d.run_pk(dag_id, run_id)
        out: list[dict[str, Any]] = []
        # Completers of one map promote at the same moments: each reading just the first
        # ``limit`` markers, they all reached for the same ones and most transactions were
        # cancelled (three per promoted instance on a 300-map). Each starts at a random place
        # among a few more (the order within a mapped task is not promised, as in Airflow).
        markers = list(self._query(pk, prefix=SCHED_PREFIX, limit=min(100, 4 * limit + 4)))
        if len(markers) > limit:
            start = random.randrange(len(markers))
            markers = markers[start:] + markers[:start]
        for marker in markers:
            if len(out) >= limit:
                break
            task_id, map_index = marker["task_id"], int(marker["map_index"])
            take = Update(add={"active_tasks": 1, "sched_waiting": -1},
                          condition="attribute_not_exists(#at) OR #at < :max",
                          names={"#at": "active_tasks"}, values={":max": max_active_tasks})
            queue = Update(
                set_={"state": "queued", "queued_at": d.now_iso(),
                      **({"deadline": deadline} if deadline is not None else {})},
                # Two completers promoting the same waiting task: the first one moves it.
                condition="#state = :scheduled", names={"#state": "state"}, values={":scheduled": "scheduled"},
            )
            try:
                self._transact_retrying([
                    self._tx_delete(pk, marker["sk"], "attribute_exists(pk)"),
                    self._tx_update(pk, d.ti_sk(task_id, map_index), queue),
                    self._tx_update(pk, RUN_SK, take),
                ], what=f"promoting task '{task_id}'[{map_index}]")
            except ConflictError as exc:
                reasons = getattr(exc, "reasons", [])
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                    break  # the run is full again
                continue
            out.append({**marker, "state": "queued"})
        return out

    def decide_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, state: str, *,
                  run_upd: Update | None, prev_try: int = 0, reason: str | None = None) -> None:
        """Create a task instance directly in skipped/upstream_failed/removed (+ run counters)."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        now = d.now_iso()
        extra = {"start_date": now, "end_date": now, "duration": 0, "note": reason}
        items = [self._tx_update(pk, sk, self._new_ti(dag_id, run_id, task_id, map_index, state, prev_try, 0,
                                                       {k: v for k, v in extra.items() if v is not None}))]
        if run_upd is not None:
            items.append(self._tx_update(pk, RUN_SK, run_upd))
        self._transact_retrying(items, what=f"task '{task_id}'[{map_index}] -> {state}")

    def claim_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 deadline: int, log_stream: str | None = None, invocation_id: str | None = None) -> dict[str, Any]:
        """queued -> running for try ``try_number``; returns the item. ConflictError if not queued."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = Update(
            set_={"state": "running", "start_date": d.now_iso(), "deadline": deadline,
                  "log_stream": log_stream, "invocation_id": invocation_id},
            # Async invoke is at least once: a second delivery of this try finds it running
            # (or done) and does nothing; a late message of an older try has a lower number.
            condition="#state = :queued AND #try = :n",
            names=_ti_names(), values={":queued": "queued", ":n": try_number},
        )
        item = self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] try {try_number}", returns="ALL_NEW")
        assert item is not None
        return item

    def _finish_upd(self, state: str, fields: dict[str, Any], try_number: int, expected: tuple[str, ...],
                    owner: str | None = None) -> Update:
        keys = [f":e{i}" for i in range(len(expected))]
        return _fenced(owner, Update(
            set_={"state": state, **fields},
            # A count this try carried (see finish_and_queue) is settled by this terminal write.
            # ... and the outputs of an earlier (cleared) try that this one does not replace.
            remove=list(RIDING) + [k for k in OUTPUTS if k not in fields],
            # The worker finishing and the conductor failing the same try (a timeout that was
            # not): only the first terminal write counts; the other finds a terminal state.
            condition=f"#state IN ({', '.join(keys)}) AND #try = :n",
            names=_ti_names(), values={**dict(zip(keys, expected)), ":n": try_number},
        ))

    def finish_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, state: str, *,
                  fields: dict[str, Any], run_upd: Update | None, expected: tuple[str, ...] = ("running",),
                  owner: str | None = None) -> None:
        """running -> a terminal state for try ``try_number``, with the run counters, atomically.

        ``owner``: the invocation id that claimed the try (``claim_ti``); the write then happens
        only while that invocation still owns it.
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        items = [self._tx_update(pk, sk, self._finish_upd(state, fields, try_number, expected, owner))]
        if run_upd is not None:
            items.append(self._tx_update(pk, RUN_SK, run_upd))
        self._transact_retrying(items, what=f"task '{task_id}'[{map_index}] try {try_number} -> {state}")

    def finish_and_queue(self, dag_id: str, run_id: str, task_id: str, try_number: int, state: str, *,
                         fields: dict[str, Any], expected: tuple[str, ...], next_task_id: str, retries: int,
                         deadline: int, next_extra: dict[str, Any], run_upd: Update | None, map_index: int = -1,
                         next_map_index: int = -1, next_prev_try: int = 0, owner: str | None = None) -> dict[str, Any]:
        """Terminal write of a try and creation of the next instance, atomically.

        The next instance is a chain step's one ready downstream, or the next member of a lane
        (``engine.lanes``: the next mapped instance, ``next_map_index``, or the next task of a
        fan-out). ``next_extra``: attributes of the new instance (``carry``, ``mcarry``,
        ``lcarry``, ``lane``). ``next_prev_try``: the try number of a cleared next instance it
        replaces.

        One transaction: the try's terminal write, the downstream instance created ``queued``
        (try 1, ``attribute_not_exists``) and, when ``run_upd`` is given, the run item's
        counters. Without ``run_upd`` the finished step's count travels on the new instance as
        ``carry`` (steps finished but not yet added to ``tasks_done``); the new instance adds it
        with its own terminal write, and ``reconcile`` subtracts the carry of unfinished
        instances when it recounts. Returns the queued item. ConflictError ``.reasons``: item 0
        is this try, item 1 the downstream instance (exists already: cleared, or made ready by
        another writer), item 2 the run item.
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        extra: dict[str, Any] = {"queued_at": d.now_iso(), "deadline": deadline,
                                 **{k: v for k, v in next_extra.items() if v}}
        create = self._new_ti(dag_id, run_id, next_task_id, next_map_index, "queued", next_prev_try, retries, extra)
        items = [self._tx_update(pk, sk, self._finish_upd(state, fields, try_number, expected, owner)),
                 self._tx_update(pk, d.ti_sk(next_task_id, next_map_index), create)]
        if run_upd is not None:
            items.append(self._tx_update(pk, RUN_SK, run_upd))
        self._transact_retrying(items, what=f"task '{task_id}'[{map_index}] try {try_number} -> {state}, "
                                            f"'{next_task_id}'[{next_map_index}] queued")
        return {"dag_id": dag_id, "run_id": run_id, "task_id": next_task_id, "map_index": next_map_index,
                "state": "queued", "try_number": next_prev_try + 1, "max_tries": next_prev_try + retries, **extra}

    def retry_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 error: str, next_try_at: str, history: dict[str, Any],
                 expected: tuple[str, ...] = ("running",), owner: str | None = None) -> None:
        """running -> up_for_retry for try ``try_number`` (the try goes to ``history``, with its
        rendered fields when the worker put them there)."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        keys = [f":e{i}" for i in range(len(expected))]
        upd = _fenced(owner, Update(
            set_={"state": "up_for_retry", "error": error, "end_date": d.now_iso(), "next_try_at": next_try_at},
            remove=[RENDERED],
            append={"history": [history]},
            # Same race as finish_ti: a duplicate failure report must not schedule two retries.
            condition=f"#state IN ({', '.join(keys)}) AND #try = :n",
            names=_ti_names(), values={**dict(zip(keys, expected)), ":n": try_number},
        ))
        self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] try {try_number} -> up_for_retry")

    def note_lost_invoke(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> int:
        """Count an invocation of queued try ``try_number`` that failed before claiming it;
        returns the count. ConflictError if the try is no longer queued."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = Update(add={"lost_invokes": 1},
                     # The try was claimed (or ended) since the failure was read: nothing was lost.
                     condition="#state = :queued AND #try = :n", names=_ti_names(),
                     values={":queued": "queued", ":n": try_number})
        item = self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] try {try_number} (lost invoke)",
                            returns="UPDATED_NEW")
        return int((item or {}).get("lost_invokes", 1))

    def requeue_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                   deadline: int) -> dict[str, Any]:
        """up_for_retry (try n) -> queued (try n+1); returns the item."""
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = Update(
            set_={"state": "queued", "queued_at": d.now_iso(), "deadline": deadline, "start_date": None,
                  "end_date": None, "next_try_at": None, "lost_invokes": None},
            raw_set=["#try = :next"],
            # A retry message delivered twice: the second finds try n+1 already queued.
            condition="#state = :ufr AND #try = :n",
            names=_ti_names(), values={":ufr": "up_for_retry", ":n": try_number, ":next": try_number + 1},
        )
        item = self._update(pk, sk, upd, what=f"task '{task_id}'[{map_index}] retry {try_number + 1}",
                            returns="ALL_NEW")
        assert item is not None
        return item

    def reset_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int, *, history: dict[str, Any],
                 counted: bool = False) -> None:
        """Clear a task instance to "no status" (``none``), keeping its try number and history
        (``history``: the ended try, its rendered fields included, which leave the item).

        ``counted``: reset only while the run item counts the task's outcome (ConflictError if not).
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        upd = Update(
            set_={"state": NONE_STATE},
            # The XComs stay until the next try ends (its terminal write replaces them), as in
            # Airflow: a downstream task already queued or running when the clear lands still
            # reads them (removing them here failed it on a None input).
            remove=["error", "start_date", "end_date", "duration",
                    "deadline", "next_try_at", "note", "lost_invokes", "past_wait", RENDERED, *RIDING],
            append={"history": [history]},
            # Clearing a task that a worker is running would lose its result: refuse.
            condition="attribute_exists(pk) AND NOT (#state IN (:q, :r))",
            names={"#state": "state"}, values={":q": "queued", ":r": "running"},
        )
        what = f"task '{task_id}'[{map_index}] of run '{run_id}' (clear)"
        if not counted:
            self._update(pk, sk, upd, what=what)
            return
        # ``counted``: only while the run item counts this task's outcome (``steps_done``). A fan-out
        # member's outcome may still ride on a later member of its lane (``lcarry``, engine.lanes),
        # which will add it when it ends: resetting the task then let both that member and the
        # task's next try count it (the run finished early, or the next try's finish was refused).
        counted_check = self._tx_check(pk, RUN_SK, "contains(#sd, :tid)", {"#sd": "steps_done"}, {":tid": task_id})
        self._transact([self._tx_update(pk, sk, upd), counted_check], what=what)

    def force_ti_state(self, dag_id: str, run_id: str, task_id: str, map_index: int, state: str, *,
                       was: str | None = None, counted: bool = False) -> None:
        """Set a task instance's state (``mark``); counters are re-derived after.

        Unconditional unless ``was`` is given: then only while the instance is still in that
        state (``""``: it has no item yet), and with ``counted`` only while the run item counts
        its outcome (``steps_done``, as for ``reset_ti``). ConflictError otherwise.
        """
        pk, sk = self._ti_key(dag_id, run_id, task_id, map_index)
        now = d.now_iso()
        # A user's mark wins over whatever state the TI is in; the run's counters are then
        # re-derived from the stored states (reconcile), not adjusted.
        upd = Update(set_={"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
                           "state": state, "end_date": now, "note": f"marked {state}"},
                     keep={"try_number": 0, "max_tries": 0, "start_date": now}, remove=["past_wait"])
        what = f"task '{task_id}'[{map_index}] of run '{run_id}' (mark)"
        if was is None:
            self._update(pk, sk, upd, what=what)
            return
        # The state the caller decided on (a fan-out member: whether its outcome may ride its lane).
        if was:
            upd.condition, upd.names, upd.values = "#state = :was", {**upd.names, "#state": "state"}, \
                {**upd.values, ":was": was}
        else:
            upd.condition = "attribute_not_exists(pk)"
        if not counted:
            self._update(pk, sk, upd, what=what)
            return
        check = self._tx_check(pk, RUN_SK, "contains(#sd, :tid)", {"#sd": "steps_done"}, {":tid": task_id})
        self._transact([self._tx_update(pk, sk, upd), check], what=what)

    def get_ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """One task instance. Raises NotFoundError naming the task."""
        item = self._get(*self._ti_key(dag_id, run_id, task_id, map_index))
        if item is None:
            raise NotFoundError(
                f"Task instance '{task_id}' (map index {map_index}) of run '{run_id}' in DAG '{dag_id}' "
                "does not exist (the task has not been scheduled)."
            )
        return item

    def list_tis(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """Task instances of a run (or of one task, in map-index order); one paginated query."""
        prefix = d.ti_prefix(task_id) if task_id else "TI#"
        return list(self._query(d.run_pk(dag_id, run_id), prefix=prefix))

    def ti_states(self, dag_id: str, run_id: str) -> list[str]:
        """The state of each task instance of a run (a progress line's counts), nothing else of them."""
        return [str(ti.get("state")) for ti in self._query(d.run_pk(dag_id, run_id), prefix="TI#",
                                                          attributes=("state",))]

    def map_states(self, dag_id: str, run_id: str, task_id: str) -> dict[int, str]:
        """Map index -> state of each stored instance of mapped task ``task_id``, nothing else of them."""
        return states_by_index(self._query(d.run_pk(dag_id, run_id), prefix=d.ti_prefix(task_id),
                                           attributes=("map_index", "state")))

    def delete_sched_markers(self, dag_id: str, run_id: str) -> None:
        """Remove waiting markers (re-derived by reconcile)."""
        pk = d.run_pk(dag_id, run_id)
        for m in list(self._query(pk, prefix=SCHED_PREFIX)):
            self.ddb.delete_item(TableName=self.table, Key=self._key(pk, m["sk"]))

    # ------------------------------------------------------------ xcom

    def ti_value(self, ti: dict[str, Any], key: str = "return_value") -> Any:
        """Decode the XCom ``key`` of a task-instance item (None when absent)."""
        if key == "return_value":
            return self.xcom.load(ti.get("xcom"), ti.get("xcom_s3"))
        stored = (ti.get("xcom_keys") or {}).get(key)
        return None if stored is None else self.xcom.load_ref(stored)

    def get_xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1,
                 key: str = "return_value") -> Any:
        """The XCom ``key`` of one task instance (None if the instance or value is missing)."""
        item = self._get(*self._ti_key(dag_id, run_id, task_id, map_index))
        return None if item is None else self.ti_value(item, key)

    def list_xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
        """The XComs of a mapped task's instances, in map-index order (missing values as None)."""
        return [self.ti_value(ti, key) for ti in self.list_tis(dag_id, run_id, task_id)
                if int(ti.get("map_index", -1)) >= 0]
