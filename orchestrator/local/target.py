"""Which cloud a CLI command talks to: a deployed stack, a running `stratus dev`, or neither.

``resolve_target(args)`` returns ``(Clients, Resources)``:

1. ``--stack NAME`` (or ``STRATUS_STACK``): that CloudFormation stack on AWS (the usual
   credentials and region), its outputs read with ``DescribeStacks``;
2. else a running ``stratus dev`` in this folder: its state file ``.stratus/dev.json``
   (endpoint, region, resources), checked for liveness (process and port);
3. else ``TargetError`` saying to start ``stratus dev`` or pass ``--stack``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from orchestrator import constants as c
from orchestrator.config import Clients, Resources
from orchestrator.errors import TargetError

STATE_DIR = ".stratus"
STATE_FILE = "dev.json"


def state_path(folder: str | Path | None = None) -> Path:
    """Where ``stratus dev`` writes its state: ``<folder or cwd>/.stratus/dev.json``."""
    return Path(folder or Path.cwd()) / STATE_DIR / STATE_FILE


def write_dev_state(path: Path, *, endpoint_url: str, region: str, resources: Resources, pid: int, stack: str,
                    extra: dict[str, Any] | None = None) -> None:
    """Write the state file atomically (readers never see half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "endpoint_url": endpoint_url,
        "region": region,
        "pid": pid,
        "stack": stack,
        "resources": asdict(resources),
        **(extra or {}),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def read_dev_state(path: Path) -> dict[str, Any] | None:
    """The state file's content, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "endpoint_url" in data and "resources" in data else None


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _port_open(endpoint_url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(endpoint_url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def dev_target(path: Path | None = None) -> tuple[Clients, Resources] | None:
    """Clients and resources of a live ``stratus dev`` (None if no state file).

    Raises ``TargetError`` when a state file exists but its server is gone.
    """
    path = path or state_path()
    state = read_dev_state(path)
    if state is None:
        return None
    if not (_pid_alive(state.get("pid")) and _port_open(state["endpoint_url"])):
        raise TargetError(
            f"Found {str(path)!r} but the `stratus dev` it describes (pid {state.get('pid')}, "
            f"{state['endpoint_url']}) is not running. Start `stratus dev` again, or pass --stack NAME."
        )
    fields = {k: v for k, v in state["resources"].items() if k in Resources.__dataclass_fields__}
    resources = Resources(**fields)
    region = state.get("region") or "us-east-1"
    # The local server accepts any signature; the caller may have no AWS credentials at all.
    session = boto3.session.Session(aws_access_key_id="stratus-dev", aws_secret_access_key="stratus-dev", region_name=region)
    clients = Clients(session=session, endpoint_url=state["endpoint_url"], region_name=region)
    return clients, resources


def stack_target(stack: str, dags_root: str = "dags", clients: Clients | None = None) -> tuple[Clients, Resources]:
    """Clients and resources of a deployed CloudFormation stack (its outputs)."""
    from botocore.exceptions import BotoCoreError, ClientError

    clients = clients or Clients()
    try:
        found = clients.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TargetError(
            f"Stack {stack!r} cannot be read ({message}). Deploy it with `stratus deploy --stack {stack}`, "
            "or check AWS_PROFILE / AWS_REGION."
        ) from exc
    except BotoCoreError as exc:
        raise TargetError(f"Stack {stack!r} cannot be read: {exc}. Check your AWS credentials and region.") from exc
    if not found:
        raise TargetError(f"Stack {stack!r} does not exist. Deploy it with `stratus deploy --stack {stack}`.")
    status = found[0].get("StackStatus", "")
    if not status.endswith("_COMPLETE") or status.startswith(("DELETE", "ROLLBACK")):
        raise TargetError(f"Stack {stack!r} is {status}; wait for the deploy to finish or redeploy it.")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    return clients, Resources.from_stack_outputs(outputs, dags_root=dags_root)


def resolve_target(args: Any) -> tuple[Clients, Resources]:
    """The cloud a command should use (see the module docstring); raises ``TargetError``."""
    stack = getattr(args, "stack", None) or os.environ.get(c.ENV_STACK)
    dags_root = getattr(args, "dags", None) or "dags"
    found = stack_target(stack, dags_root) if stack else dev_target()
    if found is not None:
        from orchestrator import telemetry

        # Runs this process starts (trigger, backfill, clear, the UI's buttons) are counted in
        # that cloud's CloudWatch metrics, not printed as EMF lines on the terminal.
        # In a handler that PutMetricData stands for Lambda's EMF extraction (no role permission).
        from orchestrator.local.iam import AsPlatform

        telemetry.send_metrics_with(AsPlatform(found[0].client("cloudwatch")))
        return found
    raise TargetError(
        "No cloud to talk to: start `stratus dev` in this folder (a local cloud on 127.0.0.1), "
        f"or pass --stack NAME (or set {c.ENV_STACK}) to use a deployed stack."
    )
