"""The ``stratus`` parser: a command imports only its own module, and that module is the right one."""

from __future__ import annotations

import argparse
import importlib

import pytest

from orchestrator.cli.main import COMMAND_MODULE, COMMAND_MODULES, build_parser, main


def _commands_of(module_name: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module_name).register(sub)
    return set(sub.choices)


def test_command_module_names_the_module_that_registers_each_command():
    registered = {name: module for module in COMMAND_MODULES for name in _commands_of(module)}
    assert registered == COMMAND_MODULE


def test_every_command_is_in_the_full_parser():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMAND_MODULE)


@pytest.mark.parametrize("command", sorted(COMMAND_MODULE))
def test_a_command_parser_holds_its_module_commands_only(command):
    sub = next(a for a in build_parser([command])._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == _commands_of(COMMAND_MODULE[command])


def test_help_and_unknown_commands_list_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["nope"])
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    for name in ("run", "runs", "dashboard", "variables", "destroy"):
        assert f"'{name}'" in err
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "run" in out and "dashboard" in out


def test_a_reader_that_goes_away_ends_the_command_quietly_whatever_wraps_stdout(monkeypatch):
    # `stratus run X | head`: a task's run leaves the local cloud's capture (no file descriptor)
    # around sys.stdout; the process's own stdout is what is pointed at /dev/null.
    import io
    import os
    import sys

    import orchestrator.cli.main as cli

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=broken)
    monkeypatch.setattr(cli, "build_parser", lambda argv=None: parser)

    class NoFileno(io.StringIO):
        def fileno(self):
            raise io.UnsupportedOperation("fileno")

    pointed: list[int] = []
    monkeypatch.setattr(sys, "stdout", NoFileno())
    monkeypatch.setattr(os, "dup2", lambda fd, to: pointed.append(to))
    assert main([]) == 141
    assert pointed == [sys.__stdout__.fileno()]
