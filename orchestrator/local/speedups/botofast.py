"""botocore's per-process and per-request repetitions, done once (the local cloud and tests only).

- Data files: every ``boto3.session.Session()`` gets its own botocore loader, which reads
  and parses the service's model JSON again (DynamoDB's alone is ~0.3 s here); botocore
  keeps the result per loader. The local cloud creates several sessions (its own, and one
  per handler module, re-imported for every cloud: ``Clients.from_env()`` is a module global
  as on Lambda), and tests create one per fixture. What the loader returns is kept per
  (search paths, call) for the whole process, as one long-lived loader would; botocore only
  reads these structures.
- User-Agent: botocore rebuilds the header string for every request (a dozen components,
  each sanitised character by character), about a twentieth of an in-process moto call. It
  depends only on the ``UserAgentString``'s attributes (set when the client is made) and
  the feature ids in use (the client's and the request context's): the string is kept per
  user agent, per attribute values and per feature set, so each request still gets the
  header botocore would build.

``install()`` does both. Never used on AWS (a Lambda container loads each model once anyway).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_FLAG = "_stratus_shared"
_CACHED = ("load_service_model", "load_data_with_path", "list_available_services",
           "determine_latest_version", "list_api_versions")


def install() -> None:
    """Share botocore loader results across sessions and keep User-Agent strings, in this process (idempotent)."""
    from botocore import loaders

    _keep_user_agents()
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
            key = (name, tuple(self.search_paths), type(self.file_loader), args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return original(self, *args, **kwargs)
        found = kept.get(key, _MISSING)
        if found is _MISSING:
            with lock:
                found = kept.get(key, _MISSING)
                if found is _MISSING:  # an error (data not found) propagates and is not kept
                    found = kept[key] = original(self, *args, **kwargs)
        return found

    method.__name__ = name
    method.__doc__ = original.__doc__
    setattr(method, _FLAG, True)
    return method


_MISSING = object()


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
