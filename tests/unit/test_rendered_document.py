"""The stored form of a try's rendered template fields: JSON-safe, masked, each field bounded (no I/O)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from orchestrator.secrets import MASKER, mask_secret
from orchestrator.store import rendered


@pytest.fixture(autouse=True)
def _no_secrets():
    MASKER.clear()
    yield
    MASKER.clear()


def test_values_become_json_safe():
    doc = rendered.document({"op_args": (1, 2.5, None), "when": datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc),
                             "day": date(2026, 1, 2), "tags": {"b", "a"}, "price": Decimal("1.10"),
                             "nan": float("nan"), "keys": {1: "one"}})
    assert doc == {"fields": {"op_args": [1, 2.5, None], "when": "2026-01-02T03:04:00+00:00", "day": "2026-01-02",
                              "tags": ["a", "b"], "price": "1.10", "nan": "nan", "keys": {"1": "one"}},
                   "truncated": []}
    json.dumps(doc, allow_nan=False)


def test_registered_secrets_and_secret_named_keys_are_masked():
    mask_secret("pa55word-xyz")
    doc = rendered.document({"bash_command": "psql postgres://u:pa55word-xyz@db/x",
                             "env": {"API_KEY": "k-123", "HOST": "db", "nested": [{"password": 5}]},
                             "client_secret": "abc-def", "empty_token": ""})
    assert doc["fields"] == {"bash_command": "psql postgres://u:***@db/x",
                             "env": {"API_KEY": "***", "HOST": "db", "nested": [{"password": "***"}]},
                             "client_secret": "***", "empty_token": ""}


def test_a_long_field_is_cut_after_masking_with_a_note(monkeypatch):
    monkeypatch.setenv(rendered.ENV_MAX_FIELD_LENGTH, "100")
    secret = "s" * 20 + "-topsecret"
    mask_secret(secret)
    value = "a" * 95 + secret + "b" * 200
    doc = rendered.document({"sql": value, "short": "ok", "rows": list(range(100))})
    sql = doc["fields"]["sql"]
    assert sql.startswith("a" * 95 + "***bb") and "sss" not in sql
    assert sql.endswith("[truncated: 298 characters, the first 100 shown; STRATUS_MAX_TEMPLATED_FIELD_LENGTH raises "
                        "the limit]")
    assert doc["fields"]["rows"].startswith("[0, 1, 2") and doc["truncated"] == ["sql", "rows"]
    assert doc["fields"]["short"] == "ok"


def test_small_documents_stay_inline_and_large_ones_go_to_s3():
    class FakeXCom:
        def __init__(self) -> None:
            self.objects: dict[str, str] = {}

        def put_ref(self, key: str, text: str) -> str:
            self.objects[key] = text
            return json.dumps({"$s3": key})

        def load_text(self, key: str) -> str:
            return self.objects[key]

    xcom = FakeXCom()
    where = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": 3, "try_number": 2}
    small = rendered.encode({"cmd": "echo hi"})
    assert rendered.place(xcom, small, **where) == small and not xcom.objects
    big = rendered.encode({f"f{i}": "x" * 1000 for i in range(6)})
    ref = rendered.place(xcom, big, **where)
    assert json.loads(ref) == {"$s3": "xcom/d/r/t/3/2.rendered.json"}
    assert rendered.load(xcom, ref) == rendered.load(xcom, big) == json.loads(big)
    assert rendered.load(xcom, None) is None and rendered.load(xcom, "not json") is None
    missing = rendered.load(xcom, json.dumps({"$s3": "xcom/d/r/t/3/9.rendered.json"}))
    assert missing["fields"] == {} and "could not be read" in missing["error"]
