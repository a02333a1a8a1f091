"""The run store: DynamoDB single table (registry, runs, task instances) and the XCom codec.

``RunStore(clients, resources)`` is the one object the engine, triggers, CLI and UI use.
Item shapes and the write sequence are in docs/internals.md.
"""

from __future__ import annotations

from orchestrator.store.dynamo import create_table
from orchestrator.store.instances import InstancesMixin, NONE_STATE, TERMINAL
from orchestrator.store.parking import ParkingMixin
from orchestrator.store.past import PastMixin
from orchestrator.store.registry import RegistryMixin, plan_s3_key
from orchestrator.store.reschedule import RescheduleMixin
from orchestrator.store.runs import RunsMixin
from orchestrator.store.state import StateMixin
from orchestrator.store.base import Update


class RunStore(RegistryMixin, RunsMixin, ParkingMixin, RescheduleMixin, InstancesMixin, StateMixin, PastMixin):
    """Registry, runs and task instances over one DynamoDB table; XComs inline or in S3.

    Example::

        store = RunStore(Clients(), Resources(table="stratus", artefact_bucket="stratus-art"))
        store.put_plan(plan)
        run, created = store.create_run({...})
    """


__all__ = ["RunStore", "create_table", "plan_s3_key", "Update", "NONE_STATE", "TERMINAL"]
