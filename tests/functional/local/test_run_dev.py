"""``stratus run DAG --dev``: the run goes to the running ``stratus dev`` (nothing started), or says what to start."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.errors import TargetError

ROOT = Path(__file__).resolve().parents[3]


def test_without_a_dev_server_it_says_what_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "etl_taskflow.py").write_text((ROOT / "dags" / "etl_taskflow.py").read_text())
    from orchestrator.cli.run_commands import run_on_dev

    with pytest.raises(TargetError, match=r"`stratus run --dev` needs a running `stratus dev` in this folder"):
        run_on_dev("dags", "etl_taskflow")


def test_the_run_goes_to_the_running_dev_server(tmp_path, monkeypatch, capsys):
    from orchestrator.local.dev import serve

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "etl_taskflow.py").write_text((ROOT / "dags" / "etl_taskflow.py").read_text())
    ready, stop = threading.Event(), threading.Event()
    status: list[int] = []

    def run() -> None:
        with (tmp_path / "dev.log").open("w") as fh:
            status.append(serve(dags, folder=tmp_path, out=fh, stop=stop, on_ready=lambda c: ready.set(),
                                template=ROOT / "template.yaml"))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ready.wait(300), (tmp_path / "dev.log").read_text()
        capsys.readouterr()
        assert main(["run", "etl_taskflow", "--dags", "dags", "--dev"]) == 0
        out = capsys.readouterr().out
        assert "started on `stratus dev` (http://127.0.0.1:" in out
        assert "success" in out and "load" in out  # the final table, every task
        assert main(["run", "etl_taskflow", "--dags", "elsewhere", "--dev"]) == 1
        assert "serves the DAG folder" in capsys.readouterr().err  # and not 'elsewhere': nothing run
    finally:
        stop.set()
        thread.join(60)
    assert status == [0]
