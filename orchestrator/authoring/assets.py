"""Assets: S3 locations a task updates (``outlets``) or a DAG is scheduled on.

Any URI Airflow accepts names an asset (task outlets update it, schedules wait for it). S3
URIs can also be updated by objects arriving in S3: ``s3://bucket/prefix/`` (every key under the prefix: the URI
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


MAX_URI_LENGTH = 1500  # Airflow's limit


def asset_uri_problem(uri: Any) -> str | None:
    """Why ``uri`` is not an asset URI Airflow accepts, or None when it is.

    As in Airflow 3, any non-empty ASCII text up to 1500 characters is an asset URI (a name
    without a scheme too), except the reserved ``airflow://`` scheme. Example-style S3 URIs
    such as ``s3://consuming_1_task/...`` are accepted: they are updated by task outlets; only a
    real bucket's objects can also trigger them by arriving in S3 (see :func:`s3_bucket_problem`).
    """
    if not isinstance(uri, str) or not uri:
        return f"Asset uri must be a non-empty string like 's3://bucket/prefix/', got {uri!r}"
    if uri.startswith(UNRESOLVED_REF):
        return (f"Asset.ref(name={uri[len(UNRESOLVED_REF):]!r}) names no asset defined in this DAG folder; define it "
                "(Asset(name=..., uri=...) or an @asset function of that name) or refer to it with Asset(uri=...)")
    if len(uri) > MAX_URI_LENGTH:
        return f"Asset uri {uri[:40]!r}... is {len(uri)} characters long; Airflow allows {MAX_URI_LENGTH}"
    if not uri.isascii():
        return f"Asset uri {uri!r} must only consist of ASCII characters (as in Airflow)"
    if any(ch in uri for ch in "\n\r\t"):
        return f"Asset uri {uri!r} contains a control character"
    if uri.lower().startswith("airflow://"):
        return f"Asset uri {uri!r} uses the scheme 'airflow', which Airflow reserves; use another scheme"
    return None


def s3_bucket_problem(uri: str) -> str | None:
    """Why S3 object events can never reach the ``s3://`` asset ``uri`` (not a real bucket name), or None."""
    if not uri.startswith("s3://"):
        return None
    bucket = uri[len("s3://"):].partition("/")[0]
    if not _BUCKET.match(bucket) or ".." in bucket:
        return (f"{bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, '.' or '-'), so only "
                "task outlets update it")
    return None


def split_uri(uri: str) -> tuple[str, str]:
    """``("bucket", "key-prefix-or-glob")`` of an ``s3://`` asset URI (``("", "")`` for other schemes)."""
    if not uri.startswith("s3://"):
        return "", ""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def asset_matches(uri: str, bucket: str, key: str) -> bool:
    """True when the S3 object ``bucket``/``key`` belongs to the asset ``uri``."""
    a_bucket, pattern = split_uri(uri)
    if not a_bucket or a_bucket != bucket:
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

    __slots__ = ("uri", "name", "group", "extra", "watchers")

    def __init__(self, name: str | None = None, uri: str | None = None, *, group: str = "asset",
                 extra: dict[str, Any] | None = None, watchers: list[Any] | None = None) -> None:
        uri = uri if uri is not None else name
        problem = asset_uri_problem(uri)
        if problem:
            raise DagDefinitionError(problem + ".")
        self.uri: str = uri  # type: ignore[assignment]
        self.name = name if name is not None else uri
        self.group = group
        self.extra = dict(extra or {})
        # Airflow's event-driven scheduling (AssetWatcher + a trigger): a DAG scheduled on such an
        # asset is refused by the validator (Stratus watches S3 itself).
        self.watchers = list(watchers or [])
        _NAMED[str(self.name)] = self.uri

    @staticmethod
    def ref(*, name: str | None = None, uri: str | None = None) -> Asset:
        """An asset defined elsewhere, by name or uri (Airflow 3): ``Asset.ref(name="orders")`` stands for the
        ``Asset(name="orders", ...)`` (or ``@asset`` function ``orders``) of the same DAG folder."""
        if (name is None) == (uri is None):
            raise DagDefinitionError("Asset.ref() takes exactly one of name= or uri=.")
        if uri is not None:
            return Asset(uri=uri)
        return AssetNameRef(str(name))

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

    def __stratus_xcom__(self) -> dict[str, Any]:  # a task may return one (store.xcom)
        return {"name": self.name, "uri": self.uri, "group": self.group, "extra": self.extra}

    @classmethod
    def __stratus_xcom_load__(cls, data: dict[str, Any]) -> Asset:
        return cls(data.get("name"), data.get("uri"), group=data.get("group", "asset"), extra=data.get("extra"))


# Asset name -> uri of the assets defined while DAG files load: what Asset.ref(name=...) resolves to.
_NAMED: dict[str, str] = {}
UNRESOLVED_REF = "asset-ref:name="


class AssetNameRef(Asset):
    """``Asset.ref(name=...)``: the uri is the named asset's, looked up when first needed (after the DAG
    folder loaded, so the asset may be defined further down or in another file of the folder)."""

    def __init__(self, name: str) -> None:  # noqa: D107 - no uri of its own
        if not isinstance(name, str) or not name:
            raise DagDefinitionError(f"Asset.ref(name=...) needs a non-empty name, got {name!r}.")
        self.name, self.group, self.extra, self.watchers = name, "asset", {}, []

    @property
    def uri(self) -> str:  # type: ignore[override]
        name = str(self.name)
        return _NAMED.get(name, UNRESOLVED_REF + name)

    def __repr__(self) -> str:
        return f"Asset.ref(name={self.name!r})"

    def __stratus_xcom__(self) -> dict[str, Any]:
        return {"name": self.name, "uri": self.uri, "group": self.group, "extra": self.extra}


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


class AssetEvent(dict):  # type: ignore[type-arg]
    """One asset event as a task sees it (Airflow 3's ``AssetEvent``): in
    ``triggering_asset_events[asset]`` and ``inlet_events[asset]``.

    Attributes: ``asset`` (the ``Asset`` updated), ``uri``, ``extra`` (dict: what the producer
    set in ``outlet_events[asset].extra``; for an S3 object also its ``bucket``, ``key``,
    ``size``, ``etag``), ``timestamp`` (a pendulum DateTime), ``source_dag_id``,
    ``source_run_id``, ``source_task_id``, ``source_map_index`` (None when an S3 object arrived),
    ``source_aliases`` (the ``AssetAlias`` names it was emitted through). For code written
    against earlier Stratus versions the event is also the dict it was (``event["key"]``,
    ``isinstance(event, dict)``).
    """

    __slots__ = ("asset", "uri", "extra", "timestamp", "source_dag_id", "source_run_id",
                 "source_task_id", "source_map_index", "source_aliases", "partition_key")

    def __init__(self, payload: dict[str, Any]) -> None:
        import pendulum

        if "extra" not in payload:  # a stored event (triggers' AssetEvent model): shape it as the context shows it
            flat = {k: v for k, v in payload.items() if v is not None and k != "user_extra"}
            extra = {k: v for k, v in flat.items() if k in ("uri", "bucket", "key", "size", "etag", "sequencer", "version_id")
                     and v != ""}
            payload = {**flat, "asset_uri": flat.get("uri"), "extra": {**extra, **(payload.get("user_extra") or {})}}
        super().__init__(payload)
        self.uri: str = str(payload.get("uri", ""))
        self.asset = Asset(self.uri) if not asset_uri_problem(self.uri) else None
        if not isinstance(self.get("extra"), dict):
            self["extra"] = {}
        self.extra: dict[str, Any] = self["extra"]
        ts = payload.get("timestamp")
        self.timestamp = pendulum.parse(ts) if isinstance(ts, str) else ts
        self.source_dag_id = payload.get("source_dag_id")
        self.source_run_id = payload.get("source_run_id")
        self.source_task_id = payload.get("source_task_id")
        self.source_map_index = payload.get("source_map_index", -1 if payload.get("source_task_id") else None)
        self.source_aliases = list(payload.get("source_aliases") or [])
        self.partition_key = payload.get("partition_key")

    def __repr__(self) -> str:
        return (f"AssetEvent(uri={self.uri!r}, timestamp={self.timestamp!s}, source_dag_id={self.source_dag_id!r}, "
                f"source_task_id={self.source_task_id!r}, extra={self.extra!r})")


class AssetKey(str):
    """A key of ``triggering_asset_events``: the asset's uri (a ``str``) that also has ``.uri`` and
    ``.name`` like the ``Asset`` it stands for (``for asset, events in ...items(): asset.uri``)."""

    @property
    def uri(self) -> str:
        return str(self)

    @property
    def name(self) -> str:
        return str(self)


class TriggeringAssetEvents(dict):  # type: ignore[type-arg]
    """``context["triggering_asset_events"]``: ``{asset: [AssetEvent, ...]}``, looked up by the
    ``Asset`` object or its uri; an asset without events gives an empty list, as in Airflow."""

    def __init__(self, raw: dict[str, list[dict[str, Any]]] | None) -> None:
        super().__init__({AssetKey(uri): [e if isinstance(e, AssetEvent) else AssetEvent(e) for e in events]
                          for uri, events in (raw or {}).items()})

    def __missing__(self, key: Any) -> list[AssetEvent]:
        uri = getattr(key, "uri", key)
        if isinstance(uri, str) and uri != key and dict.__contains__(self, uri):
            return dict.__getitem__(self, uri)
        return []


class AssetAlias(BaseAsset):
    """A name for assets decided at run time (Airflow 3): a task with ``outlets=[AssetAlias("x")]`` adds
    the assets it updated with ``outlet_events[AssetAlias("x")].add(Asset(...), extra={...})`` (or
    yields ``Metadata(asset, extra, alias=...)``); a DAG with ``schedule=[AssetAlias("x")]`` runs on the
    events emitted through the alias (they carry ``source_aliases``)."""

    __slots__ = ("name", "group")

    def __init__(self, name: str, group: str = "asset") -> None:
        if not isinstance(name, str) or not name:
            raise DagDefinitionError(f"AssetAlias needs a non-empty name, got {name!r}.")
        self.name, self.group = name, group

    @property
    def uri(self) -> str:
        """The form an alias takes in a plan's schedule and outlets (``alias:NAME``)."""
        return ALIAS_PREFIX + self.name

    def iter_assets(self) -> list[Asset]:
        return []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetAlias) and other.name == self.name or other == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __repr__(self) -> str:
        return f"AssetAlias({self.name!r})"

    def __stratus_xcom__(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group}

    @classmethod
    def __stratus_xcom_load__(cls, data: dict[str, Any]) -> AssetAlias:
        return cls(data["name"], data.get("group", "asset"))


ALIAS_PREFIX = "alias:"


class Metadata:
    """What a task yields to set the ``extra`` of the event it emits for ``asset`` (Airflow 3), through
    ``alias`` when given: ``yield Metadata(Asset("s3://b/k"), {"rows": 3})``.

    Only a *yielded* Metadata reaches the event. A *returned* one (or a list of them) is the task's
    return value, as in Airflow 3.3 (its task runner feeds only yielded values to ``outlet_events``):
    it is stored as the task's XCom (pulled back as a ``Metadata``) and the event's ``extra`` stays
    as the task left it.
    """

    __slots__ = ("asset", "extra", "alias")

    def __init__(self, asset: Asset, extra: dict[str, Any] | None = None, alias: AssetAlias | str | None = None) -> None:
        self.asset = asset
        self.extra = dict(extra or {})
        self.alias = AssetAlias(alias) if isinstance(alias, str) else alias

    def __repr__(self) -> str:
        return f"Metadata({self.asset!r}, {self.extra!r}, alias={self.alias!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Metadata) and (other.asset, other.extra, other.alias) == (
            self.asset, self.extra, self.alias)

    __hash__ = None  # type: ignore[assignment]

    def __stratus_xcom__(self) -> dict[str, Any]:  # returned by a task: its XCom (store.xcom)
        return {"asset": self.asset, "extra": self.extra, "alias": self.alias}

    @classmethod
    def __stratus_xcom_load__(cls, data: dict[str, Any]) -> Metadata:
        return cls(data["asset"], data.get("extra"), data.get("alias"))
