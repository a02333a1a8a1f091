"""One copy of botocore's data files per process (the local cloud and tests only).

Every ``boto3.session.Session()`` gets its own botocore loader, which reads and parses the
service's model JSON again (DynamoDB's alone is ~0.3 s here); botocore keeps the result per
loader. The local cloud creates several sessions (its own, and one per handler module,
re-imported for every cloud: ``Clients.from_env()`` is a module global as on Lambda), and
tests create one per fixture. ``install()`` keeps what the loader returns per (search
paths, call) for the whole process, as one long-lived loader would; botocore only reads
these structures. Never used on AWS (a Lambda container loads each model once anyway).
"""

from __future__ import annotations

import threading
from typing import Any

_FLAG = "_stratus_shared"
_CACHED = ("load_service_model", "load_data_with_path", "list_available_services",
           "determine_latest_version", "list_api_versions")


def install() -> None:
    """Share botocore loader results across sessions in this process (idempotent)."""
    from botocore import loaders

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
