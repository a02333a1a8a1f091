"""Assets: S3 locations a task updates (``outlets``) or a DAG is scheduled on.

Stratus assets are S3 only: ``s3://bucket/prefix/`` (every key under the prefix: the URI
ends with ``/``), ``s3://bucket/glob`` (``*``, ``?``, ``[...]`` in the key part, matched with
``fnmatch``, where ``*`` also matches ``/``) or ``s3://bucket/key`` (that one object). The
trigger side (``orchestrator.triggers.assets.uri_matches``) applies the same rules.
``a | b`` is ``AssetAny(a, b)``, ``a & b`` is ``AssetAll(a, b)``.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from orchestrator.errors import DagDefinitionError

# S3 bucket naming rules: 3-63 chars, lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_GLOB_CHARS = re.compile(r"[*?\[]")


def asset_uri_problem(uri: Any) -> str | None:
    """Why ``uri`` is not a valid Stratus asset URI, or None when it is."""
    if not isinstance(uri, str):
        return f"Asset uri must be a string like 's3://bucket/prefix/', got {uri!r}"
    if not uri.startswith("s3://"):
        return (
            f"Asset uri {uri!r} is not an S3 location: Stratus assets must be "
            "'s3://bucket/prefix-or-glob' (e.g. 's3://stratus-landing/incoming/')"
        )
    rest = uri[len("s3://"):]
    bucket, slash, key = rest.partition("/")
    if not slash:
        return f"Asset uri {uri!r} has no '/' after the bucket; write 's3://{bucket}/' for the whole bucket"
    if not _BUCKET.match(bucket) or ".." in bucket:
        return (
            f"Asset uri {uri!r}: {bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, "
            "digits, '.' or '-', starting and ending with a letter or digit)"
        )
    if key.startswith("/"):
        return f"Asset uri {uri!r}: the key part must not start with '/'"
    if any(ch in key for ch in "\n\r\t"):
        return f"Asset uri {uri!r}: the key part contains a control character"
    return None


def split_uri(uri: str) -> tuple[str, str]:
    """``("bucket", "key-prefix-or-glob")`` of a valid asset URI."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def asset_matches(uri: str, bucket: str, key: str) -> bool:
    """True when the S3 object ``bucket``/``key`` belongs to the asset ``uri``."""
    a_bucket, pattern = split_uri(uri)
    if a_bucket != bucket:
        return False
    if _GLOB_CHARS.search(pattern):
        return fnmatch.fnmatchcase(key, pattern)
    if pattern == "" or pattern.endswith("/"):
        return key.startswith(pattern)
    return key == pattern


class BaseAsset:
    """Common base: combine with ``|`` (any) and ``&`` (all)."""

    def __or__(self, other: BaseAsset) -> AssetAny:
        _check_operand(other, "|")
        return AssetAny(self, other)

    def __and__(self, other: BaseAsset) -> AssetAll:
        _check_operand(other, "&")
        return AssetAll(self, other)

    def iter_assets(self) -> list[Asset]:  # pragma: no cover - overridden
        raise NotImplementedError


def _check_operand(other: Any, op: str) -> None:
    if not isinstance(other, BaseAsset):
        raise DagDefinitionError(f"Cannot combine an asset with {other!r} using '{op}': use Asset(...) on both sides.")


class Asset(BaseAsset):
    """An S3 location. ``Asset("s3://bucket/prefix/")``; ``name`` defaults to the uri.

    Raises:
        DagDefinitionError: when the uri is not ``s3://bucket/prefix-or-glob``.
    """

    __slots__ = ("uri", "name", "group", "extra")

    def __init__(self, name: str | None = None, uri: str | None = None, *, group: str = "asset",
                 extra: dict[str, Any] | None = None) -> None:
        uri = uri if uri is not None else name
        problem = asset_uri_problem(uri)
        if problem:
            raise DagDefinitionError(problem + ".")
        self.uri: str = uri  # type: ignore[assignment]
        self.name = name if name is not None else uri
        self.group = group
        self.extra = dict(extra or {})

    def iter_assets(self) -> list[Asset]:
        return [self]

    def matches(self, bucket: str, key: str) -> bool:
        """True when ``bucket``/``key`` is inside this asset (prefix or glob match)."""
        return asset_matches(self.uri, bucket, key)

    def __eq__(self, other: object) -> bool:
        # Equal to its uri string too: the context's triggering_asset_events is keyed by uri, and
        # Airflow 3 code looks events up by the Asset object (events[my_asset]).
        if isinstance(other, str):
            return other == self.uri
        return isinstance(other, Asset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __repr__(self) -> str:
        return f"Asset({self.uri!r})"


class _AssetBoolean(BaseAsset):
    __slots__ = ("objects",)

    def __init__(self, *objects: BaseAsset) -> None:
        for obj in objects:
            _check_operand(obj, "|" if isinstance(self, AssetAny) else "&")
        self.objects = list(objects)

    def iter_assets(self) -> list[Asset]:
        seen: dict[str, Asset] = {}
        for obj in self.objects:
            for a in obj.iter_assets():
                seen.setdefault(a.uri, a)
        return list(seen.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_AssetBoolean):
    """Run when every listed asset has been updated since the last run."""


class AssetAny(_AssetBoolean):
    """Run when any listed asset is updated."""
