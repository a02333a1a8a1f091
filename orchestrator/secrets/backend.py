"""Where Variables and Connections are read from: SSM Parameter Store and Secrets Manager.

``SecretsBackend`` is the AWS implementation; ``set_backend``/``get_backend`` choose the one
``Variable.get``/``Connection.get`` use in this process (default: built from the Lambda
environment on first use).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

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


class SecretsBackend:
    """Reads Variables (SSM) and Connections (Secrets Manager, then SSM) with ``clients``."""

    def __init__(self, clients: Any, *, variables_prefix: str | None = None,
                 connections_prefix: str | None = None) -> None:
        self.clients = clients
        self.variables_prefix = variables_prefix or os.environ.get(ENV_VARIABLES_PREFIX) or DEFAULT_VARIABLES_PREFIX
        self.connections_prefix = (connections_prefix or os.environ.get(ENV_CONNECTIONS_PREFIX)
                                   or DEFAULT_CONNECTIONS_PREFIX)

    def variable(self, key: str) -> tuple[str, bool] | None:
        """``(value, secure)`` of SSM parameter ``{prefix}{key}``; None if there is none."""
        from botocore.exceptions import ClientError

        try:
            with _quiet_sdk():
                got = self.clients.client("ssm").get_parameter(Name=f"{self.variables_prefix}{key}",
                                                               WithDecryption=True)
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

        name = f"{self.connections_prefix}{conn_id}"
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


__all__ = ["SecretsBackend", "set_backend", "get_backend"]
