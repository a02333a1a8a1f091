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

from orchestrator.secrets.api import Connection, SecretFormatError, SecretNotFoundError, Variable
from orchestrator.secrets.backend import (
    DEFAULT_CONNECTIONS_PREFIX,
    DEFAULT_VARIABLES_PREFIX,
    ENV_CONNECTIONS_PREFIX,
    ENV_VARIABLES_PREFIX,
    SecretsBackend,
    get_backend,
    set_backend,
)
from orchestrator.secrets.masking import MASK, MASKER, SENSITIVE_WORDS, is_sensitive, mask_secret, redact

__all__ = ["Connection", "Variable", "SecretsBackend", "SecretNotFoundError", "SecretFormatError", "mask_secret",
           "redact", "set_backend", "get_backend", "is_sensitive", "MASK", "MASKER", "SENSITIVE_WORDS",
           "ENV_VARIABLES_PREFIX", "ENV_CONNECTIONS_PREFIX", "DEFAULT_VARIABLES_PREFIX", "DEFAULT_CONNECTIONS_PREFIX"]
