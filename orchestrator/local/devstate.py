"""What `stratus dev` keeps across restarts: runs, paused flags, variables, connections, logs, its port.

moto keeps everything in memory, so a restarted `stratus dev` would start empty. ``save``
writes the state a user sees to ``.stratus/dev-state.json`` (atomically) when the server
stops and every ``SAVE_EVERY_S`` while it runs; ``restore`` puts it back into a freshly
deployed local cloud before the DAG folder is synced again:

- every item of the run table (registry with paused flags and scheduling bookkeeping, runs,
  task instances, asset events), in DynamoDB's typed JSON;
- the artefact bucket (plan versions the old runs pinned, XComs held by reference);
- SSM parameters and Secrets Manager secrets (Variables and Connections);
- the functions' CloudWatch log groups (`stratus logs` of earlier runs), by logical function;
- the port, so `stratus ui` and other terminals keep talking to the same address.

All through the AWS APIs of the local cloud, the way a tool would copy them between accounts.
Invocations in flight when the server stopped are not kept: a task that was running is found by
the conductor's sweeper once its deadline passes, and retried or failed as on AWS after a crash.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

STATE_FILE = "dev-state.json"
FORMAT = 1
SAVE_EVERY_S = 30.0
_LOG_PREFIX = "/aws/lambda/"


def state_file(folder: str | Path | None = None) -> Path:
    """``<folder or cwd>/.stratus/dev-state.json``."""
    return Path(folder or Path.cwd()) / ".stratus" / STATE_FILE


def read(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it is not ours (a note is printed by the caller)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def saved_port(path: Path) -> int | None:
    data = read(path)
    port = (data or {}).get("port")
    return int(port) if isinstance(port, int) and 0 < port < 65536 else None


# ---------------------------------------------------------------- typed JSON (bytes as base64)
def _enc(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _enc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


# ---------------------------------------------------------------- save
def _table_items(clients: Any, table: str) -> list[dict[str, Any]]:
    ddb = clients.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _objects(clients: Any, bucket: str) -> list[dict[str, Any]]:
    s3 = clients.client("s3")
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out.append({"key": obj["Key"], "body": base64.b64encode(body).decode()})
    return out


def _parameters(clients: Any) -> list[dict[str, Any]]:
    ssm = clients.client("ssm")
    out = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/", Recursive=True, WithDecryption=True):
        for p in page.get("Parameters", []):
            if p["Name"].startswith("/aws/"):  # AWS's public parameters, not the user's
                continue
            out.append({"name": p["Name"], "type": p.get("Type", "String"), "value": p["Value"]})
    return out


def _secrets(clients: Any) -> list[dict[str, Any]]:
    sm = clients.client("secretsmanager")
    out = []
    for page in sm.get_paginator("list_secrets").paginate():
        for sec in page.get("SecretList", []):
            try:
                got = sm.get_secret_value(SecretId=sec["ARN"])
            except ClientError:
                continue
            if "SecretString" in got:
                out.append({"name": sec["Name"], "value": got["SecretString"]})
    return out


def _logs(clients: Any, logical_of: dict[str, str]) -> dict[str, dict[str, list[list[Any]]]]:
    logs = clients.client("logs")
    out: dict[str, dict[str, list[list[Any]]]] = {}
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=_LOG_PREFIX):
        for group in page.get("logGroups", []):
            name = group["logGroupName"]
            function = name[len(_LOG_PREFIX):]
            key = "@" + logical_of[function] if function in logical_of else name
            streams: dict[str, list[list[Any]]] = {}
            kwargs: dict[str, Any] = {"logGroupName": name}
            while True:
                resp = logs.filter_log_events(**kwargs)
                for e in resp.get("events", []):
                    streams.setdefault(e["logStreamName"], []).append([e["timestamp"], e["message"]])
                if not resp.get("nextToken"):
                    break
                kwargs["nextToken"] = resp["nextToken"]
            if streams:
                out[key] = streams
    return out


def save(cloud: Any, path: Path, *, port: int | None = None) -> dict[str, int]:
    """Write the cloud's user-visible state to ``path`` atomically; returns counts per kind."""
    clients, resources = cloud.clients, cloud.resources
    logical_of = {physical: logical for logical, physical in cloud.stack.physical_ids.items()}
    data = {
        "format": FORMAT,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "port": port,
        "dags_root": str(cloud.dags_root),
        "table": _enc(_table_items(clients, resources.table)),
        "artefacts": _objects(clients, resources.artefact_bucket) if resources.artefact_bucket else [],
        "parameters": _parameters(clients),
        "secrets": _secrets(clients),
        "logs": _logs(clients, logical_of),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    return _counts(data)


def _counts(data: dict[str, Any]) -> dict[str, int]:
    table = data.get("table") or []
    return {
        "runs": sum(1 for i in table if i.get("sk", {}).get("S") == "RUN"),
        "dags": sum(1 for i in table if i.get("sk", {}).get("S") == "META"),
        "items": len(table),
        "artefacts": len(data.get("artefacts") or []),
        "parameters": len(data.get("parameters") or []),
        "secrets": len(data.get("secrets") or []),
        "log_streams": sum(len(s) for s in (data.get("logs") or {}).values()),
    }


# ---------------------------------------------------------------- restore
def restore(cloud: Any, data: dict[str, Any]) -> dict[str, int]:
    """Put saved state into the (fresh) cloud; returns counts per kind. Call before syncing the DAGs."""
    clients, resources = cloud.clients, cloud.resources
    ddb = clients.client("dynamodb")
    items = _dec(data.get("table") or [])
    for start in range(0, len(items), 25):
        batch = {resources.table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while batch:
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}
    if resources.artefact_bucket:
        s3 = clients.client("s3")
        for obj in data.get("artefacts") or []:
            s3.put_object(Bucket=resources.artefact_bucket, Key=obj["key"], Body=base64.b64decode(obj["body"]))
    ssm = clients.client("ssm")
    for p in data.get("parameters") or []:
        ssm.put_parameter(Name=p["name"], Value=p["value"], Type=p.get("type") or "String", Overwrite=True)
    sm = clients.client("secretsmanager")
    for sec in data.get("secrets") or []:
        try:
            sm.create_secret(Name=sec["name"], SecretString=sec["value"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            sm.put_secret_value(SecretId=sec["name"], SecretString=sec["value"])
    _restore_logs(clients, cloud.stack.physical_ids, data.get("logs") or {})
    return _counts(data)


def _restore_logs(clients: Any, physical_ids: dict[str, str], groups: dict[str, Any]) -> None:
    logs = clients.client("logs")
    for key, streams in groups.items():
        if key.startswith("@"):
            physical = physical_ids.get(key[1:])
            if not physical:
                continue
            group = _LOG_PREFIX + physical
        else:
            group = key
        for create, kwargs in ((logs.create_log_group, {"logGroupName": group}),):
            try:
                create(**kwargs)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise
        for stream, events in streams.items():
            try:
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise
            ordered = sorted(events, key=lambda e: e[0])
            for start in range(0, len(ordered), 5000):
                logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                    {"timestamp": int(t), "message": m} for t, m in ordered[start:start + 5000]])


__all__ = ["SAVE_EVERY_S", "read", "restore", "save", "saved_port", "state_file"]
