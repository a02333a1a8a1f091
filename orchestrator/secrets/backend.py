"""Where Variables and Connections are read from: SSM Parameter Store and Secrets Manager.

``SecretsBackend`` is the AWS implementation; ``set_backend``/``get_backend`` choose the one
``Variable.get``/``Connection.get`` use in this process (default: built from the Lambda
environment on first use).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from orchestrator.constants import ENV_ISOLATION

ENV_VARIABLES_PREFIX = "STRATUS_VARIABLES_PREFIX"
ENV_CONNECTIONS_PREFIX = "STRATUS_CONNECTIONS_PREFIX"
DEFAULT_VARIABLES_PREFIX = "/stratus/variables/"
DEFAULT_CONNECTIONS_PREFIX = "stratus/connections/"


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """botocore at DEBUG prints response bodies: keep it quiet while a secret is fetched."""
    loggers = [logging.getLogger(n) for n in ("botocore", "boto3", "urllib3")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() < logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# With per-DAG isolation (STRATUS_ISOLATION=dag) a worker's role reads only its own DAG's prefix:
# Connections come from stratus/dags/{dag_id}/{conn_id}, Variables from /stratus/dags/{dag_id}/{key}
# first, then the global (read-only) /stratus/variables/{key}. The worker names the DAG of the try.
_DAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("stratus_secrets_dag", default=None)


def dag_prefixes(dag_id: str) -> tuple[str, str]:
    """(variables prefix, connections prefix) of one DAG's own secrets."""
    return f"/stratus/dags/{dag_id}/", f"stratus/dags/{dag_id}/"


@contextlib.contextmanager
def dag_scope(dag_id: str) -> Iterator[None]:
    """Within it, Variable.get/Connection.get of an isolated worker read ``dag_id``'s own secrets."""
    token = _DAG.set(dag_id)
    try:
        yield
    finally:
        _DAG.reset(token)


def _scoped_dag() -> str | None:
    return _DAG.get() if os.environ.get(ENV_ISOLATION) == "dag" else None


class SecretsBackend:
    """Reads Variables (SSM) and Connections (Secrets Manager, then SSM) with ``clients``."""

    def __init__(self, clients: Any, *, variables_prefix: str | None = None,
                 connections_prefix: str | None = None) -> None:
        self.clients = clients
        self.variables_prefix = variables_prefix or os.environ.get(ENV_VARIABLES_PREFIX) or DEFAULT_VARIABLES_PREFIX
        self.connections_prefix = (connections_prefix or os.environ.get(ENV_CONNECTIONS_PREFIX)
                                   or DEFAULT_CONNECTIONS_PREFIX)

    def variable(self, key: str) -> tuple[str, bool] | None:
        """``(value, secure)`` of SSM parameter ``{prefix}{key}``; None if there is none.

        In an isolated worker's task (``dag_scope``) the DAG's own ``/stratus/dags/{dag_id}/{key}``
        comes first."""
        dag_id = _scoped_dag()
        if dag_id is not None:
            own = self._parameter(f"{dag_prefixes(dag_id)[0]}{key}")
            if own is not None:
                return own
        return self._parameter(f"{self.variables_prefix}{key}")

    def _parameter(self, name: str) -> tuple[str, bool] | None:
        from botocore.exceptions import ClientError

        try:
            with _quiet_sdk():
                got = self.clients.client("ssm").get_parameter(Name=name, WithDecryption=True)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise
        param = got["Parameter"]
        return str(param["Value"]), param.get("Type") == "SecureString"

    def set_variable(self, key: str, value: str) -> None:
        """Write SSM parameter ``{prefix}{key}`` (a plain String, replacing any earlier value)."""
        with _quiet_sdk():
            self.clients.client("ssm").put_parameter(Name=f"{self.variables_prefix}{key}", Value=value,
                                                     Type="String", Overwrite=True)

    def delete_variable(self, key: str) -> bool:
        """Delete SSM parameter ``{prefix}{key}``; False when there was none."""
        from botocore.exceptions import ClientError

        try:
            with _quiet_sdk():
                self.clients.client("ssm").delete_parameter(Name=f"{self.variables_prefix}{key}")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return False
            raise
        return True

    def connection_text(self, conn_id: str) -> str | None:
        """The stored text of a connection: Secrets Manager first, then SSM; None if neither has it."""
        from botocore.exceptions import ClientError

        dag_id = _scoped_dag()  # an isolated worker reads only its DAG's own connections
        name = f"{dag_prefixes(dag_id)[1] if dag_id is not None else self.connections_prefix}{conn_id}"
        try:
            with _quiet_sdk():
                got = self.clients.client("secretsmanager").get_secret_value(SecretId=name)
            return str(got.get("SecretString") or "")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        try:
            with _quiet_sdk():
                got = self.clients.client("ssm").get_parameter(Name="/" + name.lstrip("/"), WithDecryption=True)
            return str(got["Parameter"]["Value"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise


_backend: SecretsBackend | None = None
_backend_lock = threading.Lock()


def set_backend(backend: SecretsBackend | None) -> None:
    """Use ``backend`` for ``Variable.get``/``Connection.get`` in this process (None: the default)."""
    global _backend
    with _backend_lock:
        _backend = backend


def get_backend() -> SecretsBackend:
    """The process's backend; by default built from the Lambda environment on first use."""
    global _backend
    with _backend_lock:
        if _backend is None:
            from orchestrator.config import Clients

            _backend = SecretsBackend(Clients.from_env())
        return _backend


__all__ = ["SecretsBackend", "set_backend", "get_backend", "dag_scope", "dag_prefixes"]
