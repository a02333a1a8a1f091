"""DAG files for the chaos harness: every shape the engine schedules, with seeded sizes.

Each task gets one spare try (``retries`` = the tries its own failures need + 1): a worker
killed mid-try costs the try it killed, and the harness kills at most one try per task
instance, so the final states a DAG reaches do not depend on where the faults fell. Task
bodies are deterministic functions of ``try_number`` and their inputs, and each runs inside
``chaos.probe.body()`` (overlap detection and Lambda's hard timeout).
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

HEADER = '''\
from __future__ import annotations
from datetime import datetime, timedelta
from orchestrator import dag, task, task_group, Asset, AirflowSkipException, TriggerRule, get_current_context
from chaos.probe import body as _probe

START = datetime(2026, 1, 1)


def spare(extra: int = 0) -> dict:
    return {"retries": 1 + extra, "retry_delay": timedelta(seconds=5)}


def try_number() -> int:
    return get_current_context()["ti"].try_number
'''

LANDING_BUCKET = "chaos-landing"
ASSET_URI = f"s3://{LANDING_BUCKET}/in/"
ASSET_DAG = "chaos_assets"


def _chain(name: str, n: int) -> str:
    lines = [f"@dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare())",
             f"def {name}():",
             "    @task",
             "    def step(x: int) -> int:",
             "        return x + 1",
             "    v = 0"]
    for i in range(n):
        lines.append(f"    v = step.override(task_id='t{i}')(v)")
    lines.append(f"{name}()")
    return "\n".join(lines) + "\n"


def _diamond(name: str, width: int) -> str:
    # max_active_tasks=2 < width: the sides run in fan-out lanes (engine.lanes) under the faults.
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare(), max_active_tasks=2)
    def {name}():
        @task
        def top() -> int:
            return 1
        @task
        def side(x: int, k: int) -> int:
            return x * k
        @task
        def bottom(values: list) -> int:
            return sum(values)
        t = top()
        bottom([side.override(task_id=f"side{{k}}")(t, k) for k in range({width})])
    {name}()
    """)


def _mapped(name: str, n: int, bad: int | None) -> str:
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare(), max_active_tasks=4)
    def {name}():
        @task
        def source() -> list:
            return list(range({n}))
        @task
        def double(x: int) -> int:
            if x == {bad!r}:
                raise ValueError(f"item {{x}} is bad")
            return 2 * x
        @task(trigger_rule=TriggerRule.ALL_DONE)
        def total(values) -> int:
            return sum(v for v in values if v is not None)
        total(double.expand(x=source()))
    {name}()
    """)


def _mapped_group(name: str, n: int, bad: int | None) -> str:
    # A mapped task group with a diamond inside: join[i] follows left[i] and right[i] (engine.groupmap); alarm
    # (one_failed) is decided over every left instance first.
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare(), max_active_tasks=3)
    def {name}():
        @task
        def source() -> list:
            return list(range({n}))
        @task
        def left(x: int) -> int:
            if x == {bad!r}:
                raise ValueError(f"item {{x}} is bad")
            return x + 1
        @task
        def right(x: int) -> int:
            return 10 * x
        @task
        def join(a: int, b: int) -> int:
            return a + b
        @task(trigger_rule=TriggerRule.ALL_DONE)
        def tidy(v) -> int:
            return -1 if v is None else v
        @task(trigger_rule=TriggerRule.ONE_FAILED)
        def alarm() -> str:
            return "raised"
        @task(trigger_rule=TriggerRule.ALL_DONE)
        def total(values) -> int:
            return sum(v for v in values if v is not None)
        @task_group
        def each(x):
            lhs = left(x)
            j = join(lhs, right(x))
            tidy(j)
            lhs >> alarm()
            return j
        total(each.expand(x=source()))
    {name}()
    """)


def _branch(name: str, left: bool) -> str:
    pick = "left" if left else "right"
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare())
    def {name}():
        @task.branch
        def route() -> str:
            return {pick!r}
        @task
        def left() -> str:
            return "L"
        @task
        def right() -> str:
            return "R"
        @task
        def after_right() -> int:
            return 2
        @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def join() -> int:
            return 1
        lt, rt = left(), right()
        route() >> [lt, rt]
        ar = after_right()
        rt >> ar
        [lt, ar] >> join()
    {name}()
    """)


def _rules(name: str) -> str:
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare())
    def {name}():
        @task
        def ok() -> int:
            return 1
        @task
        def bad() -> int:
            raise RuntimeError("always fails")
        @task
        def skip() -> int:
            raise AirflowSkipException("nothing to do")
        a, b, s = ok(), bad(), skip()
        # all_success is left out of the three-way join: Airflow decides it as soon as one
        # upstream is failed (upstream_failed) or skipped (skipped), so there the outcome
        # depends on which finishes first, with or without faults.
        for rule in ["all_failed", "all_done", "one_success", "one_failed",
                     "none_failed", "none_skipped", "always"]:
            @task(task_id=f"probe_{{rule}}", trigger_rule=rule)
            def probe() -> str:
                return "ran"
            [a, b, s] >> probe()
        @task(trigger_rule="all_success")
        def probe_all_success() -> str:
            return "ran"
        [a, b] >> probe_all_success()
    {name}()
    """)


def _retries(name: str, k: int) -> str:
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare({k}))
    def {name}():
        @task
        def flaky() -> int:
            if try_number() <= {k}:
                raise ConnectionError(f"try {{try_number()}} fails")
            return 100 + {k}  # not the try number: a try lost to a fault must not change the output
        @task(retries=0)
        def never() -> int:
            raise RuntimeError("fails for good")
        @task
        def after(x: int) -> int:
            return x
        @task(trigger_rule=TriggerRule.ONE_FAILED)
        def alarm() -> str:
            return "raised"
        raised = alarm()
        after(flaky()) >> raised
        never() >> raised
    {name}()
    """)


def _short_circuit(name: str, go: bool) -> str:
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=None, start_date=START, default_args=spare())
    def {name}():
        @task.short_circuit
        def gate() -> bool:
            return {go!r}
        @task
        def work() -> int:
            return 1
        @task
        def more(x: int) -> int:
            return x + 1
        gate() >> more(work())
    {name}()
    """)


def _assets(name: str) -> str:
    return textwrap.dedent(f"""
    @dag(dag_id={name!r}, schedule=[Asset({ASSET_URI!r})], start_date=START, default_args=spare())
    def {name}():
        @task
        def ingest() -> str:
            events = get_current_context()["triggering_asset_events"]
            return "ok" if events else "none"
        @task
        def publish(x: str) -> str:
            return x
        publish(ingest())
    {name}()
    """)


def probed(source: str) -> str:
    """``source`` with the body of every ``@task`` function run inside ``_probe()``."""
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        stripped = line.lstrip()
        decorator = out[-2].lstrip() if out[-2:-1] else ""
        if stripped.startswith("def ") and decorator.startswith("@task") and not decorator.startswith("@task_group"):
            indent = len(line) - len(stripped)
            out.append(" " * (indent + 4) + "with _probe():")
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                out.append(("    " + lines[i]) if lines[i].strip() else lines[i])
                i += 1
            continue
        i += 1
    return "\n".join(out) + "\n"


def write_dags(root: Path, seed: int) -> list[str]:
    """Write the chaos DAG files under ``root``; returns the ids of the DAGs runs pick from
    (the asset-scheduled DAG is written too but started by S3 events, not picked)."""
    rng = random.Random(f"dags-{seed}")
    sources = {
        "chaos_chain": _chain("chaos_chain", rng.randint(2, 6)),
        "chaos_diamond": _diamond("chaos_diamond", rng.randint(2, 4)),
        "chaos_map": _mapped("chaos_map", rng.randint(3, 9), None),
        "chaos_map_bad": _mapped("chaos_map_bad", rng.randint(3, 7), 1),
        "chaos_map_empty": _mapped("chaos_map_empty", 0, None),
        "chaos_branch": _branch("chaos_branch", rng.random() < 0.5),
        "chaos_rules": _rules("chaos_rules"),
        "chaos_retries": _retries("chaos_retries", rng.randint(1, 2)),
        "chaos_short": _short_circuit("chaos_short", rng.random() < 0.5),
        "chaos_map_group": _mapped_group("chaos_map_group", rng.randint(3, 8), rng.choice([None, 2])),
    }
    root.mkdir(parents=True, exist_ok=True)
    for dag_id, body in sources.items():
        (root / f"{dag_id}.py").write_text(HEADER + "\n\n" + probed(body))
    (root / f"{ASSET_DAG}.py").write_text(HEADER + "\n\n" + probed(_assets(ASSET_DAG)))
    return sorted(sources)
