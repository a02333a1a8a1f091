"""botocore's per-process and per-request repetitions, done once (the local cloud and tests only).

- Data files: every ``boto3.session.Session()`` gets its own botocore loader, which reads
  and parses the service's model JSON again (DynamoDB's alone is ~0.3 s here); botocore
  keeps the result per loader. The local cloud creates several sessions (its own, and one
  per handler module, re-imported for every cloud: ``Clients.from_env()`` is a module global
  as on Lambda), and tests create one per fixture. What the loader returns is kept per
  (search paths, call) for the whole process, as one long-lived loader would; botocore only
  reads these structures.
- On disk: what the loader returned is also kept between processes (a fresh ``stratus run``
  otherwise reads, decompresses and parses the same JSON models again, and lists every
  service folder for each kind of file: about a tenth of its CPU). One file per result in
  the deploy cache's folder, authenticated the same way (``local.deploycache.write_private``),
  written by the first process that loads it, read only by a process that asks for it. Its
  name covers Python's version, the call and, for each search path, the version of the
  package it lies in (botocore, boto3, moto) or else (e.g. ``~/.aws/models``) each file's
  path, size and modification time, so an added or changed model is read afresh.
  ``STRATUS_DEPLOY_CACHE=0`` turns this off with the deploy cache.
- User-Agent: botocore rebuilds the header string for every request (a dozen components,
  each sanitised character by character), about a twentieth of an in-process moto call. It
  depends only on the ``UserAgentString``'s attributes (set when the client is made) and
  the feature ids in use (the client's and the request context's): the string is kept per
  user agent, per attribute values and per feature set, so each request still gets the
  header botocore would build.

- Event names: every new session's and client's event emitter works out, for each event
  name, botocore's alias of it (a loop over ``EVENT_ALIASES`` splitting the name each time),
  keeping the answer per emitter only; a session registers some 130 handlers. The answer
  depends only on the name and the alias table: with botocore's own table it is kept for the
  whole process.

- Parameter validation: answered by a checker built once per input shape when the
  parameters are valid, by botocore's validator otherwise (``speedups.botovalidate``).
- JSON requests and responses: written and read by functions built once per shape, the
  same steps as botocore's walks (``speedups.botoserialize``, ``speedups.botoparse``).

``install()`` does all of these. Never used on AWS (a Lambda container loads each model once anyway).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import weakref
from typing import Any

_FLAG = "_stratus_shared"
_CACHED = ("load_service_model", "load_data_with_path", "list_available_services",
           "determine_latest_version", "list_api_versions")


def install() -> None:
    """Share botocore loader results across sessions and keep User-Agent strings, in this process (idempotent)."""
    from botocore import loaders

    from orchestrator.local.speedups import botoparse, botoserialize, botovalidate

    _keep_user_agents()
    _keep_event_aliases()
    botovalidate.install()
    botoparse.install()
    botoserialize.install()
    lock = threading.RLock()  # load_service_model calls load_data_with_path
    kept: dict[tuple[Any, ...], Any] = {}
    for name in _CACHED:
        original = getattr(loaders.Loader, name)
        if getattr(original, _FLAG, False):
            continue
        setattr(loaders.Loader, name, _shared(name, original, kept, lock))


def _shared(name: str, original: Any, kept: dict[tuple[Any, ...], Any], lock: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            paths = tuple(self.search_paths)
            key = (name, paths, type(self.file_loader), args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return original(self, *args, **kwargs)
        found = kept.get(key, _MISSING)
        if found is _MISSING:
            with lock:
                found = kept.get(key, _MISSING)
                if found is _MISSING:
                    found = _DISK.get(paths, key)
                    if found is _MISSING:  # an error (data not found) propagates and is not kept
                        found = original(self, *args, **kwargs)
                        _DISK.put(paths, key, found)
                    kept[key] = found
        return found

    method.__name__ = name
    method.__doc__ = original.__doc__
    setattr(method, _FLAG, True)
    return method


_MISSING = object()


def _package_folders() -> list[tuple[str, str]]:
    """(folder, version) of the installed packages whose folders botocore searches for models."""
    found = []
    for name in ("botocore", "boto3", "moto"):
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        file = getattr(module, "__file__", None)
        if version and file:
            found.append((os.path.dirname(os.path.abspath(file)), f"{name}=={version}"))
    return found


class _DiskCopy:
    """Loader results kept on disk, one file per result (see the module docstring)."""

    def __init__(self) -> None:
        self._fingerprints: dict[tuple[str, ...], str] = {}

    @staticmethod
    def enabled() -> bool:
        from orchestrator.local import deploycache

        return deploycache.enabled()

    def _fingerprint(self, paths: tuple[str, ...]) -> str:
        found = self._fingerprints.get(paths)
        if found is None:
            h = hashlib.sha256(repr((sys.version, paths)).encode())
            packages = _package_folders()
            for path in paths:
                path = os.path.abspath(path)
                owner = next((p for p in packages if path == p[0] or path.startswith(p[0] + os.sep)), None)
                if owner is not None:
                    h.update(repr(owner).encode())  # inside botocore, boto3 or moto: their version says it all
                    continue
                for folder, dirs, files in os.walk(path):  # e.g. ~/.aws/models: every file counts
                    dirs.sort()
                    for file in sorted(files):
                        info = os.stat(os.path.join(folder, file))
                        h.update(repr((folder, file, info.st_size, info.st_mtime_ns)).encode())
            found = self._fingerprints[paths] = h.hexdigest()
        return found

    def _name(self, paths: tuple[str, ...], key: tuple[Any, ...]) -> str:
        digest = hashlib.sha256((self._fingerprint(paths) + repr(key)).encode()).hexdigest()
        return f"botocore-{digest[:40]}.pickle"

    def get(self, paths: tuple[str, ...], key: tuple[Any, ...]) -> Any:
        """The kept result for ``key`` or ``_MISSING``."""
        if not self.enabled():
            return _MISSING
        from orchestrator.local import deploycache

        found = deploycache.read_private(self._name(paths, key))
        if isinstance(found, tuple) and len(found) == 2 and found[0] == repr(key):
            return found[1]
        return _MISSING

    def put(self, paths: tuple[str, ...], key: tuple[Any, ...], value: Any) -> None:
        if not self.enabled():
            return
        from orchestrator.local import deploycache

        # Not picklable: nothing is written, and botocore loads it every time.
        deploycache.write_private_value(self._name(paths, key), (repr(key), value))


_DISK = _DiskCopy()


def _keep_user_agents() -> None:
    from botocore import useragent

    build = useragent.UserAgentString.to_string
    if getattr(build, _FLAG, False):
        return
    # user agent -> {(its attribute values, feature ids): the string}; weak, so a
    # client's user agent and what was kept for it go together.
    kept: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()

    def to_string(self: Any) -> str:
        ctx = useragent.get_context()
        features = frozenset((self._client_features or set()).union(() if ctx is None else ctx.features))
        key = (tuple(frozenset(v) if isinstance(v, set) else v for v in vars(self).values()), features)
        try:
            hash(key)
        except TypeError:
            return build(self)  # type: ignore[no-any-return]
        try:
            strings = kept[self]
        except KeyError:
            strings = kept.setdefault(self, {})
        found = strings.get(key)
        if found is None:
            found = strings[key] = build(self)
        return found

    to_string.__doc__ = build.__doc__
    to_string.__wrapped__ = build  # type: ignore[attr-defined]
    setattr(to_string, _FLAG, True)
    useragent.UserAgentString.to_string = to_string  # type: ignore[method-assign]


def _keep_event_aliases() -> None:
    from botocore import hooks

    alias = hooks.EventAliaser._alias_event_name
    if getattr(alias, _FLAG, False):
        return
    kept: dict[str, str] = {}

    def _alias_event_name(self: Any, event_name: str) -> str:
        if self._event_aliases is not hooks.EVENT_ALIASES:
            return alias(self, event_name)  # type: ignore[no-any-return]  # a table of its own
        found = kept.get(event_name)
        if found is None:
            found = kept[event_name] = alias(self, event_name)
        return found

    _alias_event_name.__doc__ = alias.__doc__
    _alias_event_name.__wrapped__ = alias  # type: ignore[attr-defined]
    setattr(_alias_event_name, _FLAG, True)
    hooks.EventAliaser._alias_event_name = _alias_event_name  # type: ignore[method-assign]
