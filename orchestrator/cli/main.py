"""The `stratus` command.

Each group of subcommands lives in its own module with a ``register(subparsers)`` function
that adds its parsers and sets ``func`` on each: the function takes the parsed args and
returns the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from orchestrator.errors import StratusError
from orchestrator.local import heap
from orchestrator.local.speedups import compiled

# Modules that contribute subcommands, in help order.
COMMAND_MODULES = (
    "orchestrator.cli.dag_commands",  # dags, validate, plan
    "orchestrator.cli.run_commands",  # run, dev, demo, deploy
    "orchestrator.cli.trigger_commands",  # sync, trigger, backfill, pause, unpause
    "orchestrator.cli.view_commands",  # runs, show, logs, clear, mark, ui
    "orchestrator.cli.dashboard_commands",  # dashboard
    "orchestrator.cli.ops_commands",  # tasks test, variables, connections
    "orchestrator.cli.deploy_commands",  # destroy (deploy's checks live there too)
)
# The module that adds each subcommand: a command imports its own module only (the others pull
# in boto3, pydantic models and the UI: a fresh `stratus run` does not pay for them). Help,
# a mistyped command or none imports them all. tests/unit/test_cli_main.py keeps this true.
COMMAND_MODULE = {
    **dict.fromkeys(("dags", "validate", "plan"), "orchestrator.cli.dag_commands"),
    **dict.fromkeys(("run", "dev", "demo", "deploy"), "orchestrator.cli.run_commands"),
    **dict.fromkeys(("sync", "trigger", "backfill", "pause", "unpause"), "orchestrator.cli.trigger_commands"),
    **dict.fromkeys(("runs", "show", "logs", "clear", "mark", "ui"), "orchestrator.cli.view_commands"),
    "dashboard": "orchestrator.cli.dashboard_commands",
    **dict.fromkeys(("tasks", "variables", "connections"), "orchestrator.cli.ops_commands"),
    "destroy": "orchestrator.cli.deploy_commands",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``stratus`` parser: every subcommand, or only the module of the one ``argv`` names."""
    parser = argparse.ArgumentParser(
        prog="stratus", description="Serverless orchestrator for Airflow-style Python DAGs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    first = argv[0] if argv else None
    wanted = COMMAND_MODULE.get(first) if first else None
    for name in (wanted,) if wanted else COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``stratus`` command (``argv`` defaults to the process's); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with heap.kept():  # the command's imports live as long as the process (orchestrator.local.heap)
        compiled.install()  # before the command's imports compile their patterns (local.speedups.compiled)
        parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StratusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `stratus runs X | head`: the reader went away; stop quietly like other Unix tools. The
        # process's own stdout, not sys.stdout: a run's task may have left a wrapper there (the
        # local cloud's per-thread capture, secrets.printmask) that has no file descriptor.
        stdout = sys.__stdout__ or sys.stdout
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 141


def entry() -> None:
    """The ``stratus`` executable: ``main`` in a process of its own, which then exits."""
    status = main()
    # The objects the command made die with the process: the interpreter's last collection
    # has nothing to find in them (see orchestrator.local.heap).
    heap.settle()
    sys.exit(status)


if __name__ == "__main__":
    entry()
