"""``BashOperator`` and ``@task.bash``: a shell command as a task (Airflow's semantics).

The command runs with ``bash -c`` (``sh -c`` where there is no bash) in the worker's
invocation; every output line goes to the task log; the last line is the task's output
(its XCom). Exit code 0 is success, an exit code in ``skip_on_exit_code`` (99 by default)
skips the task, any other fails it. ``env`` replaces the environment (``append_env=True``
adds to it instead); ``cwd`` is the working directory. ``bash_command``, ``env`` and
``cwd`` are templated: ``BashOperator(task_id="day", bash_command="echo {{ ds }}")``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any, ClassVar

from orchestrator.authoring.baseoperator import BaseOperator
from orchestrator.authoring.exceptions import AirflowException, AirflowSkipException


def _shell() -> list[str]:
    bash = shutil.which("bash")
    return [bash, "-c"] if bash else ["/bin/sh", "-c"]


def run_command(command: str, *, task_id: str, env: dict[str, str] | None = None, append_env: bool = False,
                cwd: str | None = None, skip_on_exit_code: int | Sequence[int] | None = 99,
                output_encoding: str = "utf-8") -> str:
    """Run ``command``, echo its output, and return its last line (Airflow's BashOperator rules)."""
    if not isinstance(command, str) or not command.strip():
        raise AirflowException(f"Task '{task_id}': bash_command must be a non-empty string, got {command!r}.")
    if cwd is not None and not os.path.isdir(cwd):
        raise AirflowException(f"Task '{task_id}': cwd '{cwd}' is not a directory.")
    full_env = {**os.environ, **(env or {})} if (env is None or append_env) else dict(env)
    skip = {skip_on_exit_code} if isinstance(skip_on_exit_code, int) else set(skip_on_exit_code or ())
    last = ""  # no output at all pushes "" (Airflow's SubprocessHook starts from an empty last line)
    proc = subprocess.Popen([*_shell(), command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env,
                            cwd=cwd, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(output_encoding, errors="replace").rstrip("\n")
            print(line, flush=True)
            last = line
        code = proc.wait()
    finally:
        if proc.poll() is None:  # execution_timeout (or any error) while it ran: do not leave it running
            proc.kill()
            proc.wait()
    if code in skip:
        raise AirflowSkipException(f"Bash command returned exit code {code}. Skipping.")
    if code != 0:
        raise AirflowException(f"Task '{task_id}': Bash command failed. The command returned a non-zero exit "
                               f"code {code}.")
    return last


class BashOperator(BaseOperator):
    """Run a shell command; its last output line is the task's output.

    Example::

        BashOperator(task_id="count", bash_command="wc -l < /tmp/{{ ds_nodash }}.csv")
    """

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env", "cwd")
    # As in Airflow: bash_command="scripts/load.sh" runs that file (rendered) from the DAG's folder.
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash")

    def __init__(self, *, bash_command: str, env: dict[str, str] | None = None, append_env: bool = False,
                 output_encoding: str = "utf-8", skip_on_exit_code: int | Sequence[int] | None = 99,
                 cwd: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd

    def execute(self, context: dict[str, Any]) -> Any:
        return run_command(self.bash_command, task_id=self.task_id, env=self.env, append_env=self.append_env,
                           cwd=self.cwd, skip_on_exit_code=self.skip_on_exit_code,
                           output_encoding=self.output_encoding)


def bash_operator_class(python_operator: type) -> type:
    """The operator behind ``@task.bash``: the function returns the command, which is rendered and run."""

    class _BashDecoratedOperator(python_operator):  # type: ignore[misc, valid-type]
        def __init__(self, *, env: dict[str, str] | None = None, append_env: bool = False,
                     output_encoding: str = "utf-8", skip_on_exit_code: int | Sequence[int] | None = 99,
                     cwd: str | None = None, **kwargs: Any) -> None:
            kwargs.setdefault("multiple_outputs", False)
            super().__init__(**kwargs)
            self.env, self.append_env, self.cwd = env, append_env, cwd
            self.output_encoding, self.skip_on_exit_code = output_encoding, skip_on_exit_code

        def execute(self, context: dict[str, Any]) -> Any:
            command = super().execute(context)
            if not isinstance(command, str) or not command.strip():
                raise AirflowException(
                    f"Task '{self.task_id}': a @task.bash function must return the command to run as a non-empty "
                    f"string; it returned {command!r}.")
            from orchestrator.authoring.templating import render

            env = None
            if self.dag is not None:
                env = self.dag.jinja_environment
                context = {**self.dag.user_defined_macros, **context}
            command = render(command, context, env=env)
            return run_command(command, task_id=self.task_id, env=self.env, append_env=self.append_env, cwd=self.cwd,
                               skip_on_exit_code=self.skip_on_exit_code, output_encoding=self.output_encoding)

    _BashDecoratedOperator.__name__ = _BashDecoratedOperator.__qualname__ = "_BashDecoratedOperator"
    return _BashDecoratedOperator

