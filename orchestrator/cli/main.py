"""The `stratus` command.

Each group of subcommands lives in its own module with a ``register(subparsers)`` function
that adds its parsers and sets ``func`` on each: the function takes the parsed args and
returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from orchestrator.errors import StratusError

# Modules that contribute subcommands, in help order.
COMMAND_MODULES = (
    "orchestrator.cli.dag_commands",  # dags, validate, plan
    "orchestrator.cli.run_commands",  # run, dev, demo
    "orchestrator.cli.trigger_commands",  # sync, trigger, backfill, pause, unpause, deploy
    "orchestrator.cli.view_commands",  # runs, show, logs, clear, mark, ui
    "orchestrator.cli.dashboard_commands",  # dashboard
    "orchestrator.cli.ops_commands",  # tasks test, variables, connections
    "orchestrator.cli.deploy_commands",  # destroy (deploy's checks live there too)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratus", description="Serverless orchestrator for Airflow-style Python DAGs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
        # `stratus runs X | head`: the reader went away; stop quietly like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
