"""DAG sources the tests share: small builders with defaults instead of the same DAG text pasted again.

Each returns the text of a DAG file body (the engine harness's ``h.write(dag_id, text)`` adds
the imports: ``dag``, ``task``, ``datetime``, ``timedelta``, ``Param``, ...). Keyword arguments
not named by a builder become ``@dag(...)`` arguments, written as Python source::

    h.write("two", add_chain("two", 2, max_active_runs=1))
    h.write("m", mapped("m", 70, max_active_tasks=2))
"""

from __future__ import annotations

import textwrap


def dag_source(dag_id: str, body: str, *, preamble: str = "", **dag_args: object) -> str:
    """``@dag(schedule=None, start_date=datetime(2026, 1, 1), **dag_args) def dag_id(): body`` then the call.

    A ``dag_args`` value given as a ``str`` is Python source (``dagrun_timeout="timedelta(minutes=5)"``);
    any other value is written as its ``repr``.
    """
    args = ", ".join(["schedule=None", "start_date=datetime(2026, 1, 1)"]
                     + [f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in dag_args.items()])
    inner = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    head = textwrap.dedent(preamble).strip("\n")
    return (head + "\n" if head else "") + f"@dag({args})\ndef {dag_id}():\n{inner}\n{dag_id}()\n"


def single(dag_id: str, task_id: str = "a", returns: str = "1", **dag_args: object) -> str:
    """One task ``task_id`` returning ``returns`` (Python source)."""
    return dag_source(dag_id, f"""
        @task
        def {task_id}():
            return {returns}
        {task_id}()
    """, **dag_args)


def add_chain(dag_id: str, n: int, **dag_args: object) -> str:
    """Tasks ``a``, ``b``, ``c``, ...: ``a`` returns 1, each next one its input plus 1 (``c(b(a()))``)."""
    names = [chr(ord("a") + i) for i in range(n)]
    lines = ["@task", "def a():", "    return 1"]
    for name in names[1:]:
        lines += ["@task", f"def {name}(x):", "    return x + 1"]
    call = "a()"
    for name in names[1:]:
        call = f"{name}({call})"
    return dag_source(dag_id, "\n".join(lines + [call]), **dag_args)


def step_chain(dag_id: str, n: int, *, task_id: str = "s{i:02d}", **dag_args: object) -> str:
    """``n`` copies of one task ``step(i)`` linked with ``chain``, ids from ``task_id`` (``str.format`` of ``i``)."""
    return dag_source(dag_id, f"""
        @task
        def step(i):
            return i
        link(*[step.override(task_id=f"{task_id}")(i) for i in range({n})])
    """, preamble="from orchestrator import chain as link", **dag_args)


def mapped(dag_id: str, n: int, *, items_task: str = "items", items: str = "list(range({n}))", work: str = "x * 2",
           total: str = "[len(xs), sum(xs)]", more: str = "", **dag_args: object) -> str:
    """``items() -> work.expand(x=...) -> total(xs)`` over ``n`` elements; ``more``: extra body lines.

    ``items``/``work``/``total`` are the three tasks' return expressions (``items`` is formatted with ``n``).
    """
    body = textwrap.dedent(f"""
        @task
        def {items_task}():
            return {items.format(n=n)}
        @task
        def work(x):
            return {work}
        @task
        def total(xs):
            return {total}
        total(work.expand(x={items_task}()))
    """)
    return dag_source(dag_id, body + textwrap.dedent(more), **dag_args)
