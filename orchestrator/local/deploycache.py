"""The local cloud's deployed stack kept on disk: a fresh process restores it instead of deploying.

Deploying ``template.yaml`` into moto is most of a fresh ``stratus run``'s cost: samtranslator's
translation, moto's CloudFormation (whose models import a dozen unrelated services: EC2,
autoscaling, API Gateway, ...) and some 45 API calls. The deploy's outcome depends only on
the inputs below, so the first deploy keeps it and every later fresh process restores it:

- kept (one pickle per key, ``stack-KEY.pickle``): the translated template, the ``DeployedStack`` (outputs,
  physical ids, resolved resources), what the local cloud reads back from the deploy
  before it serves (each function's configuration, each role's policy documents: the
  ``facts``) and moto's backends of the stack's account as the deploy left them (DynamoDB
  table, buckets, queues, functions and their invoke configuration, roles, rules,
  schedules, log groups, alarms), each service's account backend whole (with its region
  list, which moto otherwise works out from botocore's service models);
- the key: SHA-256 of the template file's bytes, the parameter overrides, region, stack
  name, code root, the versions of moto, samtranslator, botocore and Python, the DAG
  folder the cloud serves, and the source of the modules that translate, deploy and read
  the deploy back (``local/template.py``, ``stack.py``, ``intrinsics.py``, ``cloud.py``,
  ``iam.py``, this one). Any change is a different key, so a kept deploy is never stale;
  an unreadable or foreign file is ignored (and rebuilt), never trusted half-way;
- restoring imports the model modules of the kept services only; a private key (moto's
  KMS keys) is loaded from its PEM when first used; moto's CloudFormation
  stack record is not kept (``describe_stacks`` finds no stack on a restored cloud), so
  callers that read the stack through CloudFormation (``stratus dev``, the dashboard)
  deploy for real: ``LocalCloud(deploy_cache=False)``, the default in server mode.

Where: ``$STRATUS_CACHE_DIR`` or ``~/.cache/stratus/deploy/``; ``STRATUS_DEPLOY_CACHE=0``
turns it off. Local cloud only; never used on AWS.

Why a pickle, where the library otherwise never deserialises one: moto's state is Python
objects with no other serialised form (as are the code objects ``local.speedups.compiled``
keeps here, written in ``marshal``'s form). The file is never trusted on its own: it is read only
from a folder this user owns that nobody else may write (mode 0700, checked), and only when
its HMAC-SHA256, under a random key kept in that folder (mode 0600), matches: a file this
user's own runs did not write is ignored. An attacker who could write there could as well
write the user's virtualenv.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import marshal
import os
import pickle
import sys
import threading
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_DIR = "STRATUS_CACHE_DIR"
ENV_SWITCH = "STRATUS_DEPLOY_CACHE"
FORMAT = 2
_SKIPPED_SERVICES = frozenset({"cloudformation"})  # its stack models import every service moto has
_SOURCES = ("template.py", "stack.py", "intrinsics.py", "cloud.py", "iam.py", "deploycache.py")
_HERE = Path(__file__).resolve().parent


def enabled() -> bool:
    """False when ``STRATUS_DEPLOY_CACHE=0`` (or false/no/off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    base = os.environ.get(ENV_DIR)
    if base:
        return Path(base) / "deploy"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stratus" / "deploy"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def key_of(template: Path, *, parameters: dict[str, str], region: str, stack_name: str,
           code_root: Path | None, dags_root: Path, staging_bucket: str) -> str:
    """The cache key of one deploy (see the module docstring for what it covers)."""
    h = hashlib.sha256()
    h.update(template.read_bytes())
    for name in _SOURCES:
        h.update((_HERE / name).read_bytes())
    h.update(json.dumps({
        "format": FORMAT, "template": str(template), "parameters": sorted(parameters.items()), "region": region,
        "stack": stack_name, "code_root": str(code_root) if code_root else None, "dags": str(dags_root),
        "staging": staging_bucket, "python": sys.version,
        "versions": [_version(d) for d in ("moto", "aws-sam-translator", "botocore", "stratus")],
    }, sort_keys=True).encode())
    return h.hexdigest()


# -- pickling moto's state: locks are made anew, weak and defaultdict tables kept as their contents
def _rlock() -> Any:
    return threading.RLock()


def _lock() -> Any:
    return threading.Lock()


def _weak_values(items: dict[Any, Any]) -> Any:
    return weakref.WeakValueDictionary(items)


class _KeyFromPem:
    """A private key restored as its PEM, loaded on first use (parsing an RSA key costs tens
    of milliseconds, and a run seldom signs anything). Attribute access goes to the key."""

    def __init__(self, pem: bytes) -> None:
        self._pem = pem
        self._key: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._key is None:
                from cryptography.hazmat.primitives.serialization import load_pem_private_key

                self._key = load_pem_private_key(self._pem, password=None)
            return self._key

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._loaded(), name)

    def __reduce__(self) -> Any:
        return (_private_key, (self._pem,))


def _private_key(pem: bytes) -> Any:
    return _KeyFromPem(pem)


def _private_key_pem(key: Any) -> bytes | None:
    try:
        from cryptography.hazmat.primitives import serialization

        return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    except Exception:  # noqa: BLE001 - not a cryptography private key
        return None


def _code(data: bytes) -> Any:
    return marshal.loads(data)  # noqa: S302 - inside an authenticated file (read_private)


class Marshalled(dict):  # type: ignore[type-arg]
    """A dict of what ``marshal`` writes (code objects, numbers, strings, lists, tuples, dicts) that
    pickles as one ``marshal`` blob: thousands of entries load in one fast call (local.speedups.compiled)."""

    def __reduce__(self) -> Any:
        return (_marshalled, (marshal.dumps(dict(self)),))


def _marshalled(data: bytes) -> Marshalled:
    return Marshalled(_code(data))


_RLOCK_TYPE = type(threading.RLock())
_LOCK_TYPE = type(threading.Lock())


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _RLOCK_TYPE):
            return (_rlock, ())
        if isinstance(obj, _LOCK_TYPE):
            return (_lock, ())
        if isinstance(obj, weakref.WeakValueDictionary):
            return (_weak_values, (dict(obj),))
        if type(obj).__module__.startswith("cryptography.") and hasattr(obj, "private_bytes"):
            pem = _private_key_pem(obj)  # moto's KMS keys (Lambda's default key for environments)
            if pem is not None:
                return (_private_key, (pem,))
        if isinstance(obj, defaultdict) and getattr(obj.default_factory, "__name__", "") == "<lambda>":
            made = obj.default_factory()  # type: ignore[misc]
            if type(made) in (dict, list, set, int) and not made:  # ``lambda: {}`` and the like
                return (defaultdict, (type(made),), None, None, iter(obj.items()))
            raise pickle.PicklingError("a defaultdict whose factory is not an empty container")
        return NotImplemented


def _account_backends(account_id: str) -> dict[str, Any]:
    from moto.core.base_backend import BackendDict

    state: dict[str, Any] = {}
    for backend_dict in list(BackendDict._instances):  # type: ignore[attr-defined, misc]
        if backend_dict.service_name in _SKIPPED_SERVICES or account_id not in dict.keys(backend_dict):
            continue
        account = dict.__getitem__(backend_dict, account_id)  # region -> backend, and the region list
        if len(account):
            module = type(next(iter(dict.values(account)))).__module__
            state[f"{module}:{backend_dict.service_name}"] = account
    return state


def _backend_dict(module_name: str, service_name: str) -> Any:
    import importlib

    from moto.core.base_backend import BackendDict

    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and value.service_name == service_name:
            return value
    raise LookupError(f"no BackendDict for {service_name!r} in {module_name}")


def _private_folder(create: bool) -> Path | None:
    """The cache folder, if it is this user's alone (created so when ``create``); else None."""
    folder = cache_dir()
    if create:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        info = folder.stat()
    except OSError:
        return None
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        log.warning("local cloud: %s is not this user's alone (owner or mode); the deploy cache is not used",
                    folder)
        return None
    return folder


def _secret(folder: Path, create: bool) -> bytes | None:
    path = folder / "key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
    secret = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()  # another process made it first
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return secret


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def write_private(name: str, payload: bytes) -> Path | None:
    """Write ``payload`` as ``name`` in the cache folder, authenticated (HMAC, see the module
    docstring), atomically; returns the file, or None when it could not be written."""
    folder = _private_folder(create=True)
    secret = _secret(folder, create=True) if folder is not None else None
    if folder is None or secret is None:
        return None
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        tmp.write_bytes(_mac(secret, payload) + payload)
        os.replace(tmp, path)  # atomic: a reader sees the old file, none, or the whole new one
    except OSError as exc:
        log.debug("local cloud: %s not kept on disk: %s", name, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return path


def write_private_value(name: str, value: Any) -> Path | None:
    """``write_private`` of ``value`` pickled (this module is the one place that pickles; code objects
    go inside a ``Marshalled``); None when it cannot be pickled or written."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - not picklable: the caller computes it every time
        return None
    return write_private(name, payload)


def read_private(name: str) -> Any:
    """What ``write_private`` wrote as ``name``, unpickled; None when there is none, it was not
    written by this user's runs, or it cannot be read."""
    folder = _private_folder(create=False)
    secret = _secret(folder, create=False) if folder is not None else None
    if folder is None or secret is None:
        return None
    path = folder / name
    try:
        raw = path.read_bytes()
        tag, payload = raw[:32], raw[32:]
        if not hmac.compare_digest(tag, _mac(secret, payload)):
            log.warning("local cloud: %s was not written by this user's runs; ignored", path)
            return None
        return pickle.loads(payload)  # noqa: S301 - authenticated above: written by this user's own runs
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged file: made anew
        log.debug("local cloud: kept file %s unreadable (%s); ignored", path, exc)
        return None


def save(key: str, *, translated: Any, stack: Any, account_id: str, facts: dict[str, Any] | None = None) -> Path | None:
    """Keep what the deploy made under ``key``; returns the file (None when it could not be kept).

    ``facts``: what the local cloud read back from the deploy (plain values), kept beside it."""
    try:
        buf = io.BytesIO()
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump({
            "format": FORMAT, "key": key, "translated": translated, "stack": stack, "facts": facts or {},
            "backends": _account_backends(account_id),
        })
    except Exception as exc:  # noqa: BLE001 - a deploy that cannot be kept is deployed next time
        log.debug("local cloud: deploy not kept on disk: %s", exc)
        return None
    return write_private(f"stack-{key}.pickle", buf.getvalue())


def load(key: str) -> dict[str, Any] | None:
    """What ``save`` kept under ``key``, or None (nothing kept, or a file that cannot be read)."""
    data = read_private(f"stack-{key}.pickle")
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
        return None
    return data


def restore(data: dict[str, Any], account_id: str) -> None:
    """Put the kept backends into moto (its mock started and empty)."""
    from moto.core.base_backend import BackendDict, backend_lock

    for name, account in data["backends"].items():
        module_name, _, service_name = name.partition(":")
        backend_dict = _backend_dict(module_name, service_name)
        with backend_lock:
            dict.__setitem__(backend_dict, account_id, account)
            if backend_dict not in BackendDict._instances:  # type: ignore[attr-defined, misc]
                BackendDict._instances.append(backend_dict)  # type: ignore[attr-defined, misc]  # moto's reset clears it
