"""`stratus dev`: a long-running local cloud on 127.0.0.1 that the other commands target.

It starts ``LocalCloud`` in server mode (moto's threaded server, the stack deployed, the
handlers running, the scheduler clock firing in real time), puts back what the previous
`stratus dev` in this folder kept (``local.devstate``: runs, paused flags, variables,
connections, logs, the port), registers the DAG folder and its schedules (``stratus sync``),
starts the runs a ``catchup=True`` DAG missed, writes ``.stratus/dev.json`` for
``local.target`` and serves until Ctrl-C (or SIGTERM), then saves its state, stops cleanly
and removes ``dev.json``.

While it serves, ``DagWatcher`` polls the DAG folder: an added, edited or removed file is
synced again at once (changed plans re-registered, schedules updated, import errors shown),
and the next task the workers run loads the file as it is now (``plan.loader.get_dag`` reloads
a file that changed). A run pins its plan (its tasks and their wiring); its code is the DAG
folder's current code, as a deploy on AWS replaces the code under running runs. Each try's
"task started" log line names the code it ran (``dags/x.py sha256:...``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.target import state_path, write_dev_state

# The landing bucket's name in the local cloud: the example DAGs' Assets name it.
LOCAL_LANDING_BUCKET = "stratus-landing"
DEV_STACK = "stratus-dev"
WATCH_INTERVAL_S = 0.5

log = logging.getLogger(__name__)


def local_parameters(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Template parameters the local commands (run, dev, demo) deploy with."""
    return {"LandingBucketName": LOCAL_LANDING_BUCKET, **(extra or {})}


def sync_registry(cloud: LocalCloud) -> Any:
    """Register every DAG of the cloud's folder and create its schedules (H4's `stratus sync`)."""
    from orchestrator.triggers.sync import sync_folder

    cloud.deploy_new_workers()  # Isolation=dag: a DAG added since the start gets its worker, as a deploy would
    report = sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root))
    put_local_dashboard(cloud, report.plans)
    return report


def put_local_dashboard(cloud: LocalCloud, plans: Any) -> str | None:
    """Build the stack's CloudWatch dashboard in the local cloud (what `stratus dashboard` draws).

    Never fails the sync: a problem is returned as text."""
    try:
        from orchestrator.observe.dashboard import put_stack_dashboard

        put_stack_dashboard(cloud.clients, cloud.resources, cloud.stack_name, list(plans))
    except Exception as exc:  # noqa: BLE001 - the dashboard must not stop `stratus dev`
        log.warning("dashboard not built: %s", exc)
        return f"dashboard not built: {exc}"
    return None


def catch_up(cloud: LocalCloud, dag_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Start the runs each unpaused ``catchup=True`` DAG missed up to now, as its schedule would
    have (the same code as a schedule fire); returns ``{dag_id: [run ids created]}``."""
    from orchestrator.errors import StratusError
    from orchestrator.store import RunStore
    from orchestrator.triggers.fire import due_now

    store = RunStore(cloud.clients, cloud.resources)
    started: dict[str, list[str]] = {}
    for item in store.list_dags():
        dag_id = str(item["dag_id"])
        if (dag_ids is not None and dag_id not in dag_ids) or item.get("paused") or item.get("is_active") is False:
            continue
        try:
            plan = store.get_plan(dag_id, item["plan_hash"])
            if not plan.catchup or plan.schedule.kind not in ("cron", "timedelta"):
                continue
            created = due_now(cloud.clients, cloud.resources, dag_id).created
        except StratusError:
            continue
        if created:
            started[dag_id] = created
    return started


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py") or name in (".airflowignore", ".stratusignore"):
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    out[os.path.relpath(path, root)] = (st.st_mtime_ns, st.st_size)
    return out


def _forget_helper_modules(root: Path) -> None:
    """Helper modules the DAG files import from the folder are imported again after an edit."""
    prefix = str(root) + os.sep
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file.startswith(prefix):
            sys.modules.pop(name, None)


class DagWatcher:
    """Polls the DAG folder; on a change, syncs it again and reports what changed to ``out``."""

    def __init__(self, cloud: LocalCloud, out: TextIO, *, interval: float = WATCH_INTERVAL_S,
                 lock: threading.Lock | None = None) -> None:
        self.cloud = cloud
        self.out = out
        self.interval = interval
        self.lock = lock or threading.Lock()
        self.syncs = 0
        self._stop = threading.Event()
        self._seen = _snapshot(cloud.dags_root)
        self._thread = threading.Thread(target=self._loop, name="stratus-dev-watch", daemon=True)

    def start(self) -> DagWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            now = _snapshot(self.cloud.dags_root)
            if now == self._seen:
                continue
            time.sleep(min(0.2, self.interval))  # an editor writing in several steps: take the last one
            now = _snapshot(self.cloud.dags_root)
            changed = sorted(k for k in set(now) | set(self._seen) if now.get(k) != self._seen.get(k))
            self._seen = now
            try:
                self.resync(changed)
            except Exception as exc:  # noqa: BLE001 - the server keeps serving; say what went wrong
                print(f"stratus dev: re-sync after {', '.join(changed)} failed: {type(exc).__name__}: {exc}",
                      file=self.out, flush=True)

    def resync(self, changed: list[str]) -> Any:
        """Sync the folder again and print which plans changed (also what ``stratus sync`` does)."""
        from orchestrator.plan import loader
        from orchestrator.store import RunStore

        with self.lock:
            store = RunStore(self.cloud.clients, self.cloud.resources)
            before = {str(d["dag_id"]): str(d.get("plan_hash")) for d in store.list_dags()}
            _forget_helper_modules(self.cloud.dags_root)
            loader.clear_cache()
            report = sync_registry(self.cloud)
            after = {str(d["dag_id"]): (str(d.get("plan_hash")), str(d.get("fileloc") or ""))
                     for d in store.list_dags() if d.get("is_active") is not False}
            self.syncs += 1
        print(f"stratus dev: {', '.join(changed)} changed; synced again", file=self.out)
        for dag_id, (plan_hash, fileloc) in sorted(after.items()):
            if dag_id not in before:
                print(f"  + {dag_id}: registered (plan {plan_hash[:12]})", file=self.out)
            elif before[dag_id] != plan_hash:
                print(f"  ~ {dag_id}: plan {before[dag_id][:12]} -> {plan_hash[:12]}; new runs use it", file=self.out)
            elif fileloc in changed:
                print(f"  ~ {dag_id}: same plan, new code; the next task run loads it", file=self.out)
        for dag_id in sorted(set(before) - set(after)):
            print(f"  - {dag_id}: no longer in the folder (kept, marked inactive)", file=self.out)
        for where, problem in sorted((getattr(report, "errors", {}) or {}).items()):
            print(f"  ! {where}: {problem}", file=self.out)
        new = [d for d in after if d not in before]
        for dag_id, runs in catch_up(self.cloud, new).items():
            print(f"  catch-up: {dag_id}: started {len(runs)} run(s) {runs[0]} .. {runs[-1]}", file=self.out)
        self.out.flush()
        return report


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(
    dags_root: str | Path = "dags",
    *,
    port: int = 0,
    folder: str | Path | None = None,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[LocalCloud], None] | None = None,
    template: str | Path | None = None,
    fresh: bool = False,
    watch_interval: float = WATCH_INTERVAL_S,
) -> int:
    """Run the dev cloud until ``stop`` is set or Ctrl-C; returns the exit status.

    ``folder`` is where ``.stratus/dev.json`` and ``.stratus/dev-state.json`` go (default: the
    working directory). ``port`` 0 reuses the previous server's port when it is free.
    ``fresh`` starts empty instead of restoring the saved state.
    """
    from orchestrator.local import devstate

    out = out or sys.stdout
    stop = stop or threading.Event()
    path = state_path(folder)
    saved_path = devstate.state_file(folder)
    saved = None if fresh else devstate.read(saved_path)
    if not port and saved and saved.get("port") and _port_free(int(saved["port"])):
        port = int(saved["port"])
    restore: Any = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(
        dags_root, server=True, port=port, stack_name=DEV_STACK, parameters=local_parameters(), template=template
    )
    watcher: DagWatcher | None = None
    lock = threading.Lock()
    started = False
    try:
        cloud.start()
        assert cloud.endpoint_url
        bound = int(cloud.endpoint_url.rsplit(":", 1)[1])
        kept = devstate.restore(cloud, saved) if saved else None
        report = sync_registry(cloud)
        caught = catch_up(cloud)
        write_dev_state(
            path,
            endpoint_url=cloud.endpoint_url,
            region=cloud.region,
            resources=cloud.resources,
            pid=os.getpid(),
            stack=cloud.stack_name,
        )
        started = True
        errors = getattr(report, "errors", {}) or {}
        registered = getattr(report, "registered", []) or []
        print(f"stratus dev: local cloud on {cloud.endpoint_url} (stack {cloud.stack_name})", file=out)
        print(f"  DAGs: {str(cloud.dags_root)} ({len(registered)} registered; edits are picked up by themselves)",
              file=out)
        for where, problem in sorted(errors.items()):
            print(f"  ! {where}: {problem}", file=out)
        if kept:
            print(f"  kept from the last session ({saved_path}): {kept['runs']} run(s), {kept['dags']} DAG(s) with "
                  f"their paused flags, {kept['parameters']} variable(s), {kept['secrets']} connection(s), "
                  f"{kept['log_streams']} log stream(s) (--fresh starts empty)", file=out)
        for dag_id, runs in sorted(caught.items()):
            print(f"  catch-up: {dag_id}: started {len(runs)} run(s) {runs[0]} .. {runs[-1]}", file=out)
        print(f"  table {cloud.resources.table}, landing bucket s3://{cloud.resources.landing_bucket}/", file=out)
        print(f"  state file {path}: `stratus trigger`, `runs`, `show`, `ui` use this cloud.", file=out)
        print("  Ctrl-C to stop.", file=out, flush=True)
        watcher = DagWatcher(cloud, out, interval=watch_interval, lock=lock).start()
        if on_ready:
            on_ready(cloud)
        last_save = time.monotonic()
        try:
            while not stop.wait(0.5):
                if time.monotonic() - last_save > devstate.SAVE_EVERY_S:
                    _save(cloud, saved_path, bound, out, lock)
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            pass
        print("stratus dev: stopping", file=out, flush=True)
        return 0
    finally:
        if watcher is not None:
            watcher.stop()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if started and cloud.endpoint_url:
            _save(cloud, saved_path, int(cloud.endpoint_url.rsplit(":", 1)[1]), out, lock, final=True)
        cloud.close()
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)


def _save(cloud: LocalCloud, path: Path, port: int, out: TextIO, lock: threading.Lock, *, final: bool = False) -> None:
    from orchestrator.local import devstate

    try:
        with lock:
            counts = devstate.save(cloud, path, port=port)
    except Exception as exc:  # noqa: BLE001 - never lose the server over a snapshot
        print(f"stratus dev: could not save its state to {path}: {type(exc).__name__}: {exc}", file=out, flush=True)
        return
    if final:
        print(f"stratus dev: state saved to {path} ({counts['runs']} run(s)); `stratus dev` here picks it up",
              file=out, flush=True)
