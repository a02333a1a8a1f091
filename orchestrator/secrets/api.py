"""Airflow's ``Variable`` and ``Connection`` for tasks (the authoring side of secrets).

Reads go through the process's backend (``secrets.backend``); every secret read is
registered with the masker (``secrets.masking``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from orchestrator.errors import NotFoundError, StratusError
from orchestrator.secrets.backend import get_backend
from orchestrator.secrets.masking import MASK, is_sensitive, mask_secret

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,200}$")
_NOTSET: Any = object()


class SecretNotFoundError(NotFoundError, KeyError):
    """A Variable or Connection exists in none of the places looked at (also a KeyError, as in Airflow)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SecretFormatError(StratusError):
    """A stored Connection or JSON Variable cannot be parsed."""


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
