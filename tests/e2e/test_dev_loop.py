"""#16: `stratus dev` picks up edits by itself and keeps its state across restarts.

A real `stratus dev` subprocess; the commands (`trigger`, `sync`, `runs`, `pause`) run as the CLI
does, against its state file. A DAG file is edited twice (a task added, a return value changed):
the next triggered run runs the new code without `stratus sync` (the server's watcher) and with it.
Then the server is stopped and started again: same port, earlier runs still listed, the paused flag
and a variable kept, and a new run still runs the latest code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from tests.e2e.conftest import ROOT

V1 = '''\
from datetime import datetime
from orchestrator import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def edit_me():
    @task
    def first() -> str:
        return "v1"

    first()

edit_me()
'''

V2 = '''\
from datetime import datetime
from orchestrator import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def edit_me():
    @task
    def first() -> str:
        return "{first}"

    @task
    def {added}(value: str) -> str:
        print("{added} is printing")
        return "{added} got " + value

    {added}(first())

edit_me()
'''


class DevServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lines: list[str] = []
        env = {**os.environ, "PYTHONPATH": str(ROOT), "POWERTOOLS_METRICS_DISABLED": "true"}
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "dev", "--dags", "dags"],
                                     cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("Ctrl-C to stop", timeout=180)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60, start: int = 0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, line in enumerate(self.lines[start:], start=start):
                if text in line:
                    return i
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not printed by stratus dev; output:\n" + "\n".join(self.lines))

    @property
    def endpoint(self) -> str:
        return json.loads((self.folder / ".stratus" / "dev.json").read_text())["endpoint_url"]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        assert self.proc.returncode == 0, "\n".join(self.lines)


def _trigger_and_wait(capsys, dag_id: str = "edit_me") -> tuple[str, dict[str, str], dict[str, object]]:
    """Trigger ``dag_id``, wait for the run to end; (run id, task states, return values)."""
    from orchestrator.local.target import dev_target
    from orchestrator.store import RunStore

    # A fresh process, as a user's terminal: nothing this test process imported can help it.
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "trigger", dag_id, "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    store = RunStore(*dev_target())
    deadline = time.monotonic() + 120
    while store.get_run(dag_id, run_id)["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, "run did not finish"
        time.sleep(0.2)
    tis = store.list_tis(dag_id, run_id)
    return run_id, {t["task_id"]: t["state"] for t in tis}, {
        t["task_id"]: store.get_xcom(dag_id, run_id, t["task_id"]) for t in tis}


@pytest.mark.slow
def test_dev_picks_up_edits_and_keeps_its_state_across_restarts(tmp_path, monkeypatch, capsys):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "edit_me.py").write_text(V1)
    monkeypatch.chdir(tmp_path)
    for key in ("AWS_ENDPOINT_URL", "STRATUS_STACK"):
        monkeypatch.delenv(key, raising=False)
    server = DevServer(tmp_path)
    try:
        port = server.endpoint.rsplit(":", 1)[1]
        run1, states, values = _trigger_and_wait(capsys)
        assert states == {"first": "success"} and values == {"first": "v1"}

        # 1. edited, no `stratus sync`: the watcher re-registers the plan by itself
        mark = len(server.lines)
        (dags / "edit_me.py").write_text(V2.format(first="v2", added="second"))
        server.wait_for("edit_me: plan", start=mark)
        run2, states, values = _trigger_and_wait(capsys)
        assert states == {"first": "success", "second": "success"}
        assert values == {"first": "v2", "second": "second got v2"}

        # 2. edited, then `stratus sync` at once (before the watcher may have looked)
        (dags / "edit_me.py").write_text(V2.format(first="v3", added="third"))
        assert main(["sync"]) == 0
        capsys.readouterr()
        run3, states, values = _trigger_and_wait(capsys)
        assert states == {"first": "success", "third": "success"}
        assert values == {"first": "v3", "third": "third got v3"}

        # 2b. a DAG file added while it runs: registered, given its own worker (Isolation=dag), runs
        mark = len(server.lines)
        (dags / "added_later.py").write_text(V1.replace("edit_me", "added_later"))
        server.wait_for("+ added_later: registered", start=mark)
        _, states, values = _trigger_and_wait(capsys, "added_later")
        assert states == {"first": "success"} and values == {"first": "v1"}

        # state to keep: a paused DAG and a variable
        assert main(["pause", "edit_me"]) == 0
        from orchestrator.local.target import dev_target

        dev_target()[0].client("ssm").put_parameter(Name="/stratus/variables/region", Value="eu-west-1",
                                                    Type="String")
        capsys.readouterr()
    finally:
        server.stop()
    assert any("state saved to" in line for line in server.lines)

    # 3. restarted: same port, runs listed, paused flag and variable kept, the latest code runs
    (dags / "edit_me.py").write_text(V2.format(first="v4", added="fourth"))
    server = DevServer(tmp_path)
    try:
        assert server.endpoint.rsplit(":", 1)[1] == port
        assert main(["runs", "edit_me", "--no-color"]) == 0
        listed = capsys.readouterr().out
        assert run1 in listed and run2 in listed and run3 in listed
        from orchestrator.local.target import dev_target
        from orchestrator.store import RunStore

        clients, resources = dev_target()
        assert RunStore(clients, resources).get_dag("edit_me")["paused"] is True
        assert main(["dags"]) == 0
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("edit_me "))
        assert row.split()[-2:] == ["yes", "paused"]  # the paused and next-run columns read the dev registry
        assert clients.client("ssm").get_parameter(Name="/stratus/variables/region")["Parameter"]["Value"] == "eu-west-1"
        assert main(["logs", run2, "second"]) == 0
        assert "second is printing" in capsys.readouterr().out  # logs of a run from before the restart
        run4, states, values = _trigger_and_wait(capsys)
        assert states == {"first": "success", "fourth": "success"}
        assert values == {"first": "v4", "fourth": "fourth got v4"}
    finally:
        server.stop()
