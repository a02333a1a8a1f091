"""Bad-input corpus helpers: every entry point's real handler on moto, fed hostile events from files.

Each case is ``tests/badinput/<entry point>/<name>.json``::

    {"description": "...", "event": {...}, "match": "regex the error must show",
     "known_issue": "optional: owner and defect (the case is xfail(strict) until fixed)"}

``{"$repeat": "x", "times": N}`` anywhere in ``event`` expands to ``"x" * N`` (oversized
payloads without megabyte files). ``{"$chr": N}`` expands to ``chr(N)`` (NUL, lone surrogates).

A case passes when the handler returns or raises a deliberate error (a ``StratusError``, or
pydantic's field-by-field ValidationError for a malformed worker payload), the error text
(response, exception or logs) matches ``match``, and a full scan of the table and the
artefact bucket listing are the same before and after.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent
TABLE, ARTEFACTS, LANDING = "stratus-badinput", "stratus-badinput-artefacts", "landing"

DAG_SOURCE = '''
from datetime import datetime
from orchestrator import dag, task, Asset, Param


@dag(dag_id="typed", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
     params={"n": Param(5, type="integer", minimum=0, maximum=100)})
def typed():
    @task
    def show(params=None) -> str:
        return "{{ params.n }}"
    show()


@dag(dag_id="on_landing", schedule=[Asset("s3://landing/in/")], start_date=datetime(2026, 1, 1))
def on_landing():
    @task
    def ingest() -> int:
        return 1
    ingest()


typed()
on_landing()
'''


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$repeat", "times"}:
            return str(value["$repeat"]) * int(value["times"])
        if set(value) == {"$chr"}:
            return chr(int(value["$chr"]))
        if set(value) == {"$concat"}:
            return "".join(_expand(v) for v in value["$concat"])
        return {_expand(k) if isinstance(k, str) else k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


@dataclass(frozen=True)
class Case:
    entry: str
    name: str
    description: str
    event: Any
    match: str
    known_issue: str | None


def cases(entry: str) -> list[Any]:
    """pytest params for every corpus file of ``entry`` (known issues are strict xfails)."""
    out = []
    for path in sorted((CORPUS / entry).glob("*.json")):
        raw = json.loads(path.read_text())
        case = Case(entry, path.stem, raw["description"], _expand(raw["event"]), raw["match"], raw.get("known_issue"))
        marks = [pytest.mark.xfail(strict=True, reason=case.known_issue)] if case.known_issue else []
        out.append(pytest.param(case, id=path.stem, marks=marks))
    return out


class FakeContext:
    function_name = "stratus-badinput"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stratus-badinput"
    aws_request_id = "badinput-request"
    log_group_name = "/aws/lambda/stratus-badinput"
    log_stream_name = "2026/01/01/[$LATEST]badinput"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class Deployed:
    """moto with the table, buckets and two registered DAGs; loads handlers from functions/."""

    def __init__(self, root: Path) -> None:
        from orchestrator.config import Clients, Resources
        from orchestrator.plan.compiler import compile_dag
        from orchestrator.plan.loader import DagBag
        from orchestrator.store import RunStore, create_table

        self.clients = Clients(region_name="us-east-1")
        self.resources = Resources(table=TABLE, artefact_bucket=ARTEFACTS, worker_function="stratus-worker",
                                   conductor_function="stratus-conductor", landing_bucket=LANDING,
                                   retry_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/retries",
                                   dags_root=str(root))
        self._handlers: dict[str, Any] = {}
        create_table(self.clients, TABLE)
        s3 = self.clients.client("s3")
        for bucket in (ARTEFACTS, LANDING):
            s3.create_bucket(Bucket=bucket)
        (root / "badinput_dags.py").write_text(textwrap.dedent(DAG_SOURCE))
        bag = DagBag(str(root))
        assert not bag.import_errors, bag.import_errors
        store = RunStore(self.clients, self.resources)
        for dag_id in ("typed", "on_landing"):
            store.put_plan(compile_dag(bag.get_dag(dag_id), str(root)))
            store.set_paused(dag_id, False)

    def handler(self, name: str) -> Any:
        """``functions/<name>/app.py``'s handler (``name:attr`` for another one, e.g.
        ``widget:action_handler``), imported once per world (its globals see this moto)."""
        if name not in self._handlers:
            folder, _, attr = name.partition(":")
            self._handlers[name] = getattr(self._import(folder), attr or "handler")
        return self._handlers[name]

    def _import(self, name: str) -> Any:
        path = ROOT / "functions" / name / "app.py"
        mod_name = f"badinput_{name}_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        return module

    def state(self) -> tuple[list[Any], list[str]]:
        """Every table item and every artefact key (sorted), to compare before and after."""
        ddb = self.clients.client("dynamodb")
        items: list[Any] = []
        for page in ddb.get_paginator("scan").paginate(TableName=TABLE):
            items += page["Items"]
        keys = [o["Key"] for page in self.clients.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=ARTEFACTS) for o in page.get("Contents", [])]
        return sorted(items, key=lambda i: json.dumps(i, sort_keys=True)), sorted(keys)


def run_case(deployed: Deployed, entry: str, case: Case, capsys: Any) -> tuple[Any, BaseException | None, str]:
    """Invoke the handler with the case's event; returns (response, exception, all text seen)."""
    from pydantic import ValidationError

    from orchestrator.errors import StratusError

    handler = deployed.handler(entry)
    before = deployed.state()
    response, error = None, None
    capsys.readouterr()
    try:
        response = handler(case.event, FakeContext())
    except (StratusError, ValidationError) as exc:
        error = exc
    captured = capsys.readouterr()
    text = "\n".join([json.dumps(response, default=str) if response is not None else "",
                      f"{type(error).__name__}: {error}" if error else "", captured.out, captured.err])
    after = deployed.state()
    changed = [i for i in after[0] if i not in before[0]] + [i for i in before[0] if i not in after[0]]
    assert after == before, f"{case.name}: the handler changed stored state: {str(changed)[:1500]} {after[1]}"
    return response, error, text
