"""`stratus dev`: a long-running local cloud on 127.0.0.1 that the other commands target.

It starts ``LocalCloud`` in server mode (moto's threaded server, the stack deployed, the
handlers running, the scheduler clock firing in real time), registers the DAG folder and its
schedules (``stratus sync``), writes ``.stratus/dev.json`` for ``local.target`` and serves
until Ctrl-C (or SIGTERM), then stops cleanly and removes the file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.target import state_path, write_dev_state

# The landing bucket's name in the local cloud: the example DAGs' Assets name it.
LOCAL_LANDING_BUCKET = "stratus-landing"
DEV_STACK = "stratus-dev"


def local_parameters(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Template parameters the local commands (run, dev, demo) deploy with."""
    return {"LandingBucketName": LOCAL_LANDING_BUCKET, **(extra or {})}


def sync_registry(cloud: LocalCloud) -> Any:
    """Register every DAG of the cloud's folder and create its schedules (H4's `stratus sync`)."""
    from orchestrator.triggers.sync import sync_folder

    return sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root))


def serve(
    dags_root: str | Path = "dags",
    *,
    port: int = 0,
    folder: str | Path | None = None,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[LocalCloud], None] | None = None,
    template: str | Path | None = None,
) -> int:
    """Run the dev cloud until ``stop`` is set or Ctrl-C; returns the exit status.

    ``folder`` is where ``.stratus/dev.json`` goes (default: the working directory).
    """
    out = out or sys.stdout
    stop = stop or threading.Event()
    path = state_path(folder)
    restore: Any = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(
        dags_root, server=True, port=port, stack_name=DEV_STACK, parameters=local_parameters(), template=template
    )
    try:
        cloud.start()
        assert cloud.endpoint_url
        report = sync_registry(cloud)
        write_dev_state(
            path,
            endpoint_url=cloud.endpoint_url,
            region=cloud.region,
            resources=cloud.resources,
            pid=os.getpid(),
            stack=cloud.stack_name,
        )
        errors = getattr(report, "errors", {}) or {}
        registered = getattr(report, "registered", []) or []
        print(f"stratus dev: local cloud on {cloud.endpoint_url} (stack {cloud.stack_name})", file=out)
        print(f"  DAGs: {str(cloud.dags_root)} ({len(registered)} registered)", file=out)
        for where, problem in sorted(errors.items()):
            print(f"  ! {where}: {problem}", file=out)
        print(f"  table {cloud.resources.table}, landing bucket s3://{cloud.resources.landing_bucket}/", file=out)
        print(f"  state file {path}: `stratus trigger`, `runs`, `show`, `ui` use this cloud.", file=out)
        print("  Ctrl-C to stop.", file=out, flush=True)
        if on_ready:
            on_ready(cloud)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stratus dev: stopping", file=out, flush=True)
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        cloud.close()
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
