"""Cold import time of each Lambda handler module (``functions/*/app.py``), in fresh processes.

A Lambda cold start pays for the interpreter and for importing the handler module (its
module-level code included: Powertools set-up, boto3 clients). Each figure here is the time of
``import app`` in a fresh ``python`` process with the function's folder and the repository on
``sys.path`` and a Lambda-like environment (dummy resource names, a region, no network),
measured ``--repeat`` times (the median is shown, and the minimum). The modules whose own
module-level code takes longest come from ``python -X importtime`` of the same import.

Usage::

    python bench/imports.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.table import render  # noqa: E402

FUNCTIONS = REPO / "functions"

_PROBE = (
    "import time, importlib, sys\n"
    "t0 = time.perf_counter()\n"
    "importlib.import_module('app')\n"
    "print('IMPORT_S', time.perf_counter() - t0)\n"
    "print('MODULES', len(sys.modules))\n"
)


@dataclass
class ImportResult:
    """One handler module's cold import."""

    function: str
    times_s: list[float]
    modules: int
    heaviest: list[tuple[str, float]]
    error: str = ""

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times_s) * 1000 if self.times_s else None

    @property
    def min_ms(self) -> float | None:
        return min(self.times_s) * 1000 if self.times_s else None


def handler_modules(root: Path = FUNCTIONS) -> list[Path]:
    """Every ``functions/<name>/app.py``, sorted by function name."""
    return sorted(root.glob("*/app.py"))


def lambda_env(function_dir: Path) -> dict[str, str]:
    """A Lambda-like environment: resource names the template would set, a region, dummy credentials."""
    from orchestrator import constants as c

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_", "POWERTOOLS_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(function_dir), str(REPO)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function_dir.name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "POWERTOOLS_SERVICE_NAME": c.SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
        "POWERTOOLS_TRACE_DISABLED": "true",
        c.ENV_TABLE: "bench-table",
        c.ENV_ARTEFACT_BUCKET: "bench-artefacts",
        c.ENV_WORKER_FUNCTION: "bench-worker",
        c.ENV_CONDUCTOR_FUNCTION: "bench-conductor",
        c.ENV_TRIGGER_FUNCTION: "bench-trigger",
        c.ENV_RETRY_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/bench-retry",
        c.ENV_SCHEDULER_GROUP: "bench",
        c.ENV_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/bench",
        c.ENV_DAGS_ROOT: str(REPO / "dags"),
    })
    return env


def _heaviest(stderr: str, top: int = 4) -> list[tuple[str, float]]:
    """Modules with the most *self* import time (their own module-level code) from ``-X importtime`` output."""
    rows: list[tuple[str, float]] = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+\d+\s+\|\s*(\S+)", line)
        if m and m.group(2) != "app":
            rows.append((m.group(2), int(m.group(1)) / 1e6))
    return sorted(rows, key=lambda kv: -kv[1])[:top]


def measure_one(app: Path, repeat: int = 3, python: str = sys.executable) -> ImportResult:
    """Import ``app`` ``repeat`` times, each in a fresh process; then once more under ``-X importtime``."""
    env = lambda_env(app.parent)
    times, modules = [], 0
    for _ in range(repeat):
        done = subprocess.run([python, "-c", _PROBE], cwd=app.parent, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return ImportResult(app.parent.name, [], 0, [], error=last[:160])
        for line in done.stdout.splitlines():
            if line.startswith("IMPORT_S "):
                times.append(float(line.split()[1]))
            elif line.startswith("MODULES "):
                modules = int(line.split()[1])
    traced = subprocess.run(
        [python, "-X", "importtime", "-c", "import app"], cwd=app.parent, env=env, capture_output=True, text=True
    )
    return ImportResult(app.parent.name, times, modules, _heaviest(traced.stderr))


def measure(repeat: int = 3, root: Path = FUNCTIONS) -> list[ImportResult]:
    """Cold import of every handler module under ``root``."""
    return [measure_one(app, repeat) for app in handler_modules(root)]


def interpreter_start_ms(python: str = sys.executable, repeat: int = 3) -> float:
    """Median time of ``python -c pass`` (the floor under every figure above), in ms."""
    import time

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def imports_table(results: list[ImportResult], start_ms: float | None = None) -> str:
    """One row per handler module."""
    rows = []
    for r in results:
        heavy = ", ".join(f"{name} {s * 1000:.0f}" for name, s in r.heaviest) or "-"
        rows.append([f"functions/{r.function}/app.py", r.median_ms, r.min_ms, r.modules or None,
                     heavy if not r.error else f"import failed: {r.error}"])
    if not rows:
        rows.append(["(no functions/*/app.py yet)", None, None, None, "-"])
    notes = ["Each import in a fresh process, Lambda-like environment, bytecode already compiled."]
    if start_ms is not None:
        notes.append(f"Interpreter start-up alone (`python -c pass`): {start_ms:.0f} ms, not included.")
    return render(
        "Cold import of the Lambda handler modules",
        ["handler", "median ms", "min ms", "modules loaded", "slowest modules, own import time (ms)"],
        rows, notes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(imports_table(measure(args.repeat), interpreter_start_ms()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
