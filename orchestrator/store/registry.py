"""The DAG registry: current plan per DAG, plan versions (JSON in S3), pause flag, run slots."""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.errors import NotFoundError, StoreError
from orchestrator.plan.model import StepPlan
from orchestrator.store import dynamo as d
from orchestrator.store.base import StoreBase, Update

# Plans are immutable and content-addressed: cache them per process (a warm worker reads
# a plan from S3 once).
_PLAN_CACHE: dict[tuple[str, str], StepPlan] = {}
_PLAN_LOCK = threading.Lock()

DAGS_INDEX_PK = "DAGS"


def plan_s3_key(dag_id: str, plan_hash: str) -> str:
    return f"plans/{dag_id}/{plan_hash}.json"


class RegistryMixin(StoreBase):
    """``DAG#{dag_id}/META`` and ``DAG#{dag_id}/PLAN#{hash}`` items, plans in the artefact bucket."""

    def _stored_plans(self) -> set[tuple[str, str]]:
        # Versions this store has written or seen stored. Per store, not per process: tests run
        # several clouds (fresh moto backends with the same table names) in one process.
        found = self.__dict__.get("_stored_plan_versions")
        if found is None:
            found = self.__dict__.setdefault("_stored_plan_versions", set())
        return found

    def _put_plan_object(self, plan: StepPlan) -> tuple[StepPlan, str]:
        if not plan.hash:
            plan = plan.with_hash()
        key = plan_s3_key(plan.dag_id, plan.hash)
        self.clients.client("s3").put_object(
            Bucket=self.resources.artefact_bucket, Key=key, Body=plan.to_json().encode(),
            ContentType="application/json",
        )
        with _PLAN_LOCK:
            _PLAN_CACHE[(plan.dag_id, plan.hash)] = plan
        return plan, key

    def _put_plan_item(self, plan: StepPlan, key: str) -> None:
        # Written last (after the S3 object and the registry item): its presence means the whole
        # version is stored, which lets ensure_plan skip every write for a known version.
        self._put(
            {"pk": d.dag_pk(plan.dag_id), "sk": f"PLAN#{plan.hash}", "s3_key": key, "created_at": d.now_iso(),
             "dag_id": plan.dag_id},
        )
        self._stored_plans().add((plan.dag_id, plan.hash))

    def _meta_fields(self, plan: StepPlan) -> dict[str, Any]:
        return {
            "dag_id": plan.dag_id,
            "plan_hash": plan.hash,
            "fileloc": plan.fileloc,
            "schedule": plan.schedule.model_dump_json(by_alias=True),
            "tags": list(plan.tags),
            "max_active_runs": plan.max_active_runs,
            "description": plan.description,
            "updated_at": d.now_iso(),
            "gsi1pk": DAGS_INDEX_PK,
            "gsi1sk": plan.dag_id,
        }

    def put_plan(self, plan: StepPlan) -> dict[str, Any]:
        """Store a plan version and make it the DAG's current plan; returns the registry item.

        The plan JSON goes to ``plans/{dag_id}/{hash}.json`` in the artefact bucket. ``paused``
        is set only when the DAG is new (from ``is_paused_upon_creation``, default False), so a
        re-sync never un-pauses a DAG the user paused. Idempotent.
        """
        plan, key = self._put_plan_object(plan)
        uses_past = any(s.past is not None for s in plan.steps)
        upd = Update(
            set_=self._meta_fields(plan),
            keep={"paused": bool(plan.is_paused_upon_creation), "active_runs": 0},
            # Runs made while no task depended on the past have no PAST# entry (store.past):
            # they are entered again when a plan that needs them comes (below).
            remove=[] if uses_past else ["past_indexed"],
        )
        item = self._update(d.dag_pk(plan.dag_id), "META", upd, what=f"DAG '{plan.dag_id}'", returns="ALL_NEW")
        assert item is not None
        self._put_plan_item(plan, key)
        if uses_past and not item.get("past_indexed"):
            self.index_past_runs(plan.dag_id)  # type: ignore[attr-defined]  # store.past.PastMixin
            self._update(d.dag_pk(plan.dag_id), "META", Update(set_={"past_indexed": True}),
                         what=f"DAG '{plan.dag_id}'")
        return item

    def ensure_plan(self, plan: StepPlan) -> StepPlan:
        """Store a plan version for a run without changing the DAG's current plan (ad-hoc runs).

        Creates the registry item if the DAG was never synced. Returns the hashed plan. A
        version already stored (seen by this store, or its ``PLAN#`` item found with one
        read) costs no write: every run of a scheduled DAG starts through here.
        """
        if not plan.hash:
            plan = plan.with_hash()
        known = (plan.dag_id, plan.hash) in self._stored_plans()
        if known or self._get(d.dag_pk(plan.dag_id), f"PLAN#{plan.hash}") is not None:
            self._stored_plans().add((plan.dag_id, plan.hash))
            with _PLAN_LOCK:
                _PLAN_CACHE.setdefault((plan.dag_id, plan.hash), plan)
            return plan
        plan, key = self._put_plan_object(plan)
        fields = self._meta_fields(plan)
        upd = Update(keep={**{k: v for k, v in fields.items() if v is not None},
                           "paused": bool(plan.is_paused_upon_creation), "active_runs": 0})
        self._update(d.dag_pk(plan.dag_id), "META", upd, what=f"DAG '{plan.dag_id}'")
        self._put_plan_item(plan, key)
        return plan

    def get_plan(self, dag_id: str, plan_hash: str) -> StepPlan:
        """The plan version ``plan_hash`` of ``dag_id`` (cached per process). Raises NotFoundError."""
        with _PLAN_LOCK:
            found = _PLAN_CACHE.get((dag_id, plan_hash))
        if found is not None:
            return found
        try:
            body = self.clients.client("s3").get_object(
                Bucket=self.resources.artefact_bucket, Key=plan_s3_key(dag_id, plan_hash)
            )["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise NotFoundError(
                    f"Plan {plan_hash} of DAG '{dag_id}' is not in the artefact bucket "
                    f"({self.resources.artefact_bucket}); run `stratus sync` to register the DAG."
                ) from err
            raise StoreError(f"Reading plan {plan_hash} of DAG '{dag_id}' failed: {err}") from err
        plan = StepPlan.from_json(body)
        with _PLAN_LOCK:
            _PLAN_CACHE[(dag_id, plan_hash)] = plan
        return plan

    def get_current_plan(self, dag_id: str) -> StepPlan:
        """The DAG's current plan (registry item's ``plan_hash``)."""
        return self.get_plan(dag_id, self.get_dag(dag_id)["plan_hash"])

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        """The registry item of a DAG; ``schedule`` decoded from JSON. Raises NotFoundError."""
        item = self._get(d.dag_pk(dag_id), "META")
        if item is None or "plan_hash" not in item:
            raise NotFoundError(f"DAG '{dag_id}' is not registered; run `stratus sync` (or check the DAG id).")
        return _decode_dag(item)

    def list_dags(self) -> list[dict[str, Any]]:
        """Every registered DAG, by dag_id (one index query, paginated, and a BatchGetItem per 100 DAGs)."""
        return [_decode_dag(i) for i in self._query_index(DAGS_INDEX_PK) if "plan_hash" in i]

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        """Pause or unpause a registered DAG. Raises NotFoundError."""
        from orchestrator.errors import ConflictError

        upd = Update(set_={"paused": bool(paused), "updated_at": d.now_iso()}, condition="attribute_exists(pk)")
        try:
            item = self._update(d.dag_pk(dag_id), "META", upd, what=f"DAG '{dag_id}'", returns="ALL_NEW")
        except ConflictError as exc:
            raise NotFoundError(f"DAG '{dag_id}' is not registered; run `stratus sync`.") from exc
        return _decode_dag(item or {})

    def update_dag(self, dag_id: str, **fields: Any) -> dict[str, Any]:
        """Set bookkeeping fields on a registered DAG (e.g. ``next_logical_date``, ``last_fire``)."""
        from orchestrator.errors import ConflictError

        upd = Update(set_=fields, condition="attribute_exists(pk)")
        try:
            item = self._update(d.dag_pk(dag_id), "META", upd, what=f"DAG '{dag_id}'", returns="ALL_NEW")
        except ConflictError as exc:
            raise NotFoundError(f"DAG '{dag_id}' is not registered; run `stratus sync`.") from exc
        return _decode_dag(item or {})


def _decode_dag(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    sched = out.get("schedule")
    if isinstance(sched, str):
        try:
            out["schedule"] = json.loads(sched)
        except ValueError:
            pass
    out.setdefault("paused", False)
    out.setdefault("active_runs", 0)
    return out
