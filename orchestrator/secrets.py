"""Variables and Connections for tasks, from SSM Parameter Store and Secrets Manager; never logged.

Airflow's names, read from AWS's secret stores (the lookup order follows Airflow's: the
environment first, then the secrets backend)::

    from orchestrator.secrets import Connection, Variable

    bucket = Variable.get("landing_bucket")                  # AIRFLOW_VAR_LANDING_BUCKET, else SSM
    limits = Variable.get("limits", deserialize_json=True)   # JSON text -> value
    db = Connection.get("warehouse")                         # AIRFLOW_CONN_WAREHOUSE, else Secrets Manager, else SSM
    db.host, db.login, db.password, db.port, db.schema, db.extra_dejson

- **Variables**: SSM parameter ``{prefix}{key}`` (default prefix ``/stratus/variables/``,
  env ``STRATUS_VARIABLES_PREFIX``), read ``WithDecryption``.
- **Connections**: Secrets Manager secret ``{prefix}{conn_id}`` (default
  ``stratus/connections/``, env ``STRATUS_CONNECTIONS_PREFIX``), else the SSM parameter
  ``/{prefix}{conn_id}``; the value is a JSON object (``conn_type``, ``host``, ``login``,
  ``password``, ``schema``, ``port``, ``extra``) or an Airflow connection URI
  (``postgres://user:pa%40ss@host:5432/db?sslmode=require``).

**Never logged**: every secret read (a connection's password and sensitive extras, a
Variable stored as a SecureString or whose key names a secret, as Airflow decides) is
registered with the process's masker, which replaces it with ``***`` in every log record
(message, arguments, ``extra`` fields and exception text) from then on, whoever logs it:
the task, the engine, botocore. botocore's own DEBUG logging is silenced while a secret
is fetched (it would print the response body). ``redact(text)`` applies the same masking
to text stored elsewhere (e.g. a task's error). Reprs show ``***`` for passwords.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from orchestrator.errors import NotFoundError, StratusError

ENV_VARIABLES_PREFIX = "STRATUS_VARIABLES_PREFIX"
ENV_CONNECTIONS_PREFIX = "STRATUS_CONNECTIONS_PREFIX"
DEFAULT_VARIABLES_PREFIX = "/stratus/variables/"
DEFAULT_CONNECTIONS_PREFIX = "stratus/connections/"
MASK = "***"
# Airflow's list of key fragments that make a Variable or an extra field sensitive.
SENSITIVE_WORDS = ("access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
                   "private_key", "secret", "token", "keyfile_dict", "service_account")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,200}$")
_NOTSET: Any = object()


class SecretNotFoundError(NotFoundError, KeyError):
    """A Variable or Connection exists in none of the places looked at (also a KeyError, as in Airflow)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SecretFormatError(StratusError):
    """A stored Connection or JSON Variable cannot be parsed."""


def is_sensitive(name: str) -> bool:
    """True when a Variable key or extra field name suggests a secret (Airflow's rule)."""
    low = name.lower()
    return any(word in low for word in SENSITIVE_WORDS)


# ---------------------------------------------------------------------------- masking


class _Masker:
    """Registered secret values, replaced by ``***`` in every log record once installed."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._installed = False

    def add(self, value: Any) -> None:
        if not isinstance(value, str) or len(value) < 3:  # "", "1", "no": masking them would garble every line
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            # Longest first so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            if not self._installed:
                _install_record_hook()
                self._installed = True

    def redact(self, value: Any) -> Any:
        pattern = self._pattern
        if pattern is None:
            return value
        if isinstance(value, str):
            return pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact(v) for v in value)
        return value

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


MASKER = _Masker()
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(text: Any) -> Any:
    """``text`` (or a dict/list of strings) with every registered secret replaced by ``***``."""
    return MASKER.redact(text)


def mask_secret(value: Any) -> None:
    """Register ``value`` (a str) so it never appears in a log line from now on."""
    MASKER.add(value)


def _install_record_hook() -> None:
    """Redact at record creation: ``Logger.makeRecord`` covers every logger, extras included."""
    original = logging.Logger.makeRecord
    if getattr(original, "_stratus_masked", False):
        return

    def make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(self, *args, **kwargs)
        if MASKER._pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep the raw message
            message = str(record.msg)
        clean = MASKER.redact(message)
        if clean != message:  # untouched records keep their msg/args (Powertools logs dicts as msg)
            record.msg, record.args = clean, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = MASKER.redact(value)
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = MASKER.redact(text)
            if clean != text:  # the traceback names a secret: keep only its masked text
                record.msg = f"{record.msg}\n{clean}"
                record.exc_info, record.exc_text = None, None
        return record

    make_record._stratus_masked = True  # type: ignore[attr-defined]
    logging.Logger.makeRecord = make_record  # type: ignore[method-assign]


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


# ---------------------------------------------------------------------------- backend


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


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise SecretFormatError(f"Invalid {kind} name {str(name)[:80]!r}: use letters, digits, '_', '-', '.' and '/'.")
    return name


def _env_name(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


# ---------------------------------------------------------------------------- Variable


class Variable:
    """Airflow's ``Variable``: ``Variable.get(key, default=..., deserialize_json=False)``."""

    @classmethod
    def get(cls, key: str, default: Any = _NOTSET, deserialize_json: bool = False, *,
            default_var: Any = _NOTSET) -> Any:
        """The value of Variable ``key`` (env ``AIRFLOW_VAR_<KEY>`` first, then SSM).

        ``default`` (Airflow 2's ``default_var`` also accepted) is returned when the
        Variable does not exist; without it SecretNotFoundError (a KeyError) names the key
        and where it was looked for. ``deserialize_json`` parses the text as JSON.
        """
        if default is _NOTSET:
            default = default_var
        _check_name("Variable", key)
        value: str | None = os.environ.get(_env_name("AIRFLOW_VAR_", key))
        secure = False
        backend = get_backend()
        if value is None:
            found = backend.variable(key)
            if found is not None:
                value, secure = found
        if value is None:
            if default is not _NOTSET:
                return default
            raise SecretNotFoundError(
                f"Variable '{key}' does not exist: create the SSM parameter "
                f"'{backend.variables_prefix}{key}' (or set {_env_name('AIRFLOW_VAR_', key)}).")
        if secure or is_sensitive(key):
            mask_secret(value)
        if not deserialize_json:
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SecretFormatError(f"Variable '{key}' is not valid JSON ({exc.msg} at {exc.pos}).") from None
        if secure or is_sensitive(key):
            _mask_tree(parsed)
        return parsed


    @classmethod
    def set(cls, key: str, value: Any, serialize_json: bool = False, **_ignored: Any) -> None:
        """Airflow's ``Variable.set``: store ``value`` as SSM parameter ``{prefix}{key}``.

        ``serialize_json`` stores ``json.dumps(value)``, else ``str(value)``. An
        ``AIRFLOW_VAR_<KEY>`` environment variable still wins on ``get``, as in Airflow.
        """
        _check_name("Variable", key)
        text = json.dumps(value) if serialize_json else str(value)
        get_backend().set_variable(key, text)

    @classmethod
    def delete(cls, key: str) -> bool:
        """Airflow's ``Variable.delete``: remove the SSM parameter; False when it did not exist."""
        _check_name("Variable", key)
        return get_backend().delete_variable(key)


def _mask_tree(value: Any) -> None:
    if isinstance(value, str):
        mask_secret(value)
    elif isinstance(value, dict):
        for v in value.values():
            _mask_tree(v)
    elif isinstance(value, list):
        for v in value:
            _mask_tree(v)


# ---------------------------------------------------------------------------- Connection


@dataclass(frozen=True)
class Connection:
    """Airflow's ``Connection`` fields; ``Connection.get(conn_id)`` reads one (password masked)."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    port: int | None = None
    extra: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        pw = MASK if self.password else None
        return (f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, host={self.host!r}, "
                f"login={self.login!r}, password={pw!r}, schema={self.schema!r}, port={self.port!r})")

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object ({} when empty)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except json.JSONDecodeError as exc:
            raise SecretFormatError(f"Connection '{self.conn_id}' has an extra that is not JSON ({exc.msg}).") from None
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        """The connection as an Airflow URI (the password is in it: do not log it)."""
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="") + (":" + quote(self.password, safe="") if self.password else "") + "@"
        host = (self.host or "") + (f":{self.port}" if self.port else "")
        path = f"/{quote(self.schema, safe='')}" if self.schema else ""
        query = ""
        if self.extra_dejson:
            from urllib.parse import urlencode

            query = "?" + urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in self.extra_dejson.items()})
        return f"{(self.conn_type or '').replace('_', '-')}://{auth}{host}{path}{query}"

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Parse an Airflow connection URI (``type://login:password@host:port/schema?extra``)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise SecretFormatError(f"Connection '{conn_id}' is not a valid URI ({exc}).") from None
        if not parts.scheme:
            raise SecretFormatError(f"Connection '{conn_id}' URI has no scheme (expected type://...).")
        extra = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(conn_id=conn_id, conn_type=parts.scheme.replace("-", "_"),
                   host=unquote(parts.hostname) if parts.hostname else None,
                   login=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   schema=unquote(parts.path.lstrip("/")) or None, port=port,
                   extra=json.dumps(extra) if extra else None)

    @classmethod
    def from_text(cls, conn_id: str, text: str) -> Connection:
        """A stored connection: a JSON object of the fields, or a URI."""
        stripped = text.strip()
        if not stripped.startswith("{"):
            return cls.from_uri(conn_id, stripped)
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SecretFormatError(f"Connection '{conn_id}' is not valid JSON ({exc.msg} at {exc.pos}).") from None
        extra = data.get("extra")
        port = data.get("port")
        try:
            port = int(port) if port not in (None, "") else None
        except (TypeError, ValueError):
            raise SecretFormatError(f"Connection '{conn_id}' has a port that is not a number: {port!r}.") from None
        return cls(conn_id=conn_id, conn_type=data.get("conn_type"), host=data.get("host"), login=data.get("login"),
                   password=data.get("password"), schema=data.get("schema"), port=port,
                   extra=json.dumps(extra) if isinstance(extra, dict) else extra)

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """Connection ``conn_id`` (env ``AIRFLOW_CONN_<ID>``, then Secrets Manager, then SSM).

        Its password and sensitive extra fields are masked in logs from now on. Raises
        SecretNotFoundError naming where it looked, SecretFormatError if it cannot be parsed.
        """
        _check_name("Connection", conn_id)
        text = os.environ.get(_env_name("AIRFLOW_CONN_", conn_id))
        backend = get_backend()
        if text is None:
            text = backend.connection_text(conn_id)
        if text is None:
            raise SecretNotFoundError(
                f"Connection '{conn_id}' does not exist: create the Secrets Manager secret "
                f"'{backend.connections_prefix}{conn_id}' (or set {_env_name('AIRFLOW_CONN_', conn_id)}).")
        conn = cls.from_text(conn_id, text)
        mask_secret(conn.password)
        if conn.password:
            mask_secret(quote(conn.password, safe=""))  # as it appears inside get_uri()
        for key, value in conn.extra_dejson.items():
            if is_sensitive(key):
                _mask_tree(value)
        return conn

    # Airflow 2's BaseHook spelling
    get_connection_from_secrets = get


__all__ = ["Connection", "Variable", "SecretsBackend", "SecretNotFoundError", "SecretFormatError", "mask_secret",
           "redact", "set_backend", "get_backend", "is_sensitive"]
