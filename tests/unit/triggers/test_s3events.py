from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator.errors import EventError
from orchestrator.triggers.s3events import is_s3_event, outlet_event, parse_s3_event

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_eventbridge_object_created():
    (evt,) = parse_s3_event(load("s3_eventbridge_object_created.json"))
    assert evt.uri == "s3://landing/sales/2026-01-05.csv"
    assert (evt.bucket, evt.key, evt.size) == ("landing", "sales/2026-01-05.csv", 5)
    assert evt.etag == "b1946ac92492d2347c6235b4d2611184"
    assert evt.sequencer == "00617F08299329D189"
    assert evt.timestamp == "2026-01-05T06:01:02+00:00"


def test_notification_record_key_is_url_decoded():
    (evt,) = parse_s3_event(load("s3_notification_put.json"))
    assert evt.key == "sales/red flower(2).csv"
    assert evt.size == 1305107


def test_moto_shapes_eTag_and_epoch_time():
    event = load("s3_eventbridge_object_created.json")
    event["time"] = 1767592862.0
    obj = event["detail"]["object"]
    obj["eTag"] = obj.pop("etag")
    (evt,) = parse_s3_event(event)
    assert evt.etag == "b1946ac92492d2347c6235b4d2611184"
    assert evt.timestamp.startswith("2026-01-05T")


def test_deleted_objects_are_ignored():
    assert parse_s3_event(load("s3_eventbridge_object_deleted.json")) == []


def test_is_s3_event():
    assert is_s3_event(load("s3_eventbridge_object_created.json"))
    assert is_s3_event(load("s3_notification_put.json"))
    assert not is_s3_event(load("scheduler_fire.json"))


def test_dedup_id_is_stable_for_a_redelivery_and_differs_for_a_new_upload():
    a = parse_s3_event(load("s3_eventbridge_object_created.json"))[0]
    b = parse_s3_event(load("s3_eventbridge_object_created.json"))[0]
    assert a.dedup_id() == b.dedup_id()
    other = load("s3_eventbridge_object_created.json")
    other["detail"]["object"]["sequencer"] = "00617F0829932A0000"
    assert parse_s3_event(other)[0].dedup_id() != a.dedup_id()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("sales/../secrets.csv", r"contains a '\.\.' path segment"),
        ("sales/\x00evil.csv", "contains control characters"),
        ("sales/line\nbreak.csv", "contains control characters"),
        ("k" * 1025, "longer than S3's 1024"),
        ("", "has no object key"),
        (42, "has no object key"),
    ],
)
def test_hostile_keys_are_rejected(key, message):
    event = load("s3_eventbridge_object_created.json")
    event["detail"]["object"]["key"] = key
    with pytest.raises(EventError, match=message):
        parse_s3_event(event)


def test_bad_bucket_size_and_shape():
    event = load("s3_eventbridge_object_created.json")
    bad = copy.deepcopy(event)
    bad["detail"]["bucket"]["name"] = "Bad_Bucket!"
    with pytest.raises(EventError, match="invalid bucket name 'Bad_Bucket!'"):
        parse_s3_event(bad)
    bad = copy.deepcopy(event)
    bad["detail"]["object"]["size"] = -1
    with pytest.raises(EventError, match="negative object size -1"):
        parse_s3_event(bad)
    bad = copy.deepcopy(event)
    bad["detail"]["object"]["sequencer"] = "x y <script>"
    with pytest.raises(EventError, match="invalid sequencer"):
        parse_s3_event(bad)
    with pytest.raises(EventError, match="neither an S3 EventBridge event nor S3 notification records"):
        parse_s3_event({"hello": "world"})
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_s3_event(["x"])


def test_outlet_event():
    evt = outlet_event("s3://lake/sales/", dag_id="producer", run_id="manual__1", task_id="load")
    assert (evt.bucket, evt.key, evt.source) == ("lake", "sales/", "outlet")
    assert evt.dedup_id() == "outlet#producer#manual__1#load"
    # Any URI Airflow accepts: the example-style bucket and a name without a scheme carry no S3 object
    assert outlet_event("s3://consuming_1_task/x", dag_id="p", run_id="r", task_id="t").bucket == "consuming_1_task"
    assert outlet_event("my_asset", dag_id="p", run_id="r", task_id="t").bucket == ""
    with pytest.raises(EventError, match="uses the scheme 'airflow'"):
        outlet_event("airflow://lake/x", dag_id="p", run_id="r", task_id="t")
