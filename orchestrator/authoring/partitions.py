"""Asset partitions (Airflow 3.2+): partition key mappers, rollup windows and wait policies.

A partitioned asset event carries a ``partition_key`` (any string; time-based keys such as
``2026-03-10T09:00:00`` are the usual ones). A DAG scheduled with ``PartitionedAssetTimetable``
runs once per *downstream* key: each event's key goes through the mapper configured for its
asset (``partition_mapper_config[asset]``, else ``default_partition_mapper``, else
:class:`IdentityMapper`), and the run starts when the asset condition is met by events mapped
to the same key. The names and rules are Airflow 3.3's (``airflow.partition_mappers``):

- :class:`IdentityMapper`: the key unchanged;
- ``StartOf{Hour,Day,Week,Month,Quarter,Year}Mapper``: parse the key with ``input_format`` (in
  ``timezone``), move to the period's start, format with ``output_format`` (``%Y-%m-%dT%H``,
  ``%Y-%m-%d``, ``%Y-%m-%d (W%V)``, ``%Y-%m``, ``%Y-Q{quarter}``, ``%Y``);
- :class:`AllowedKeyMapper`: the key if it is one of ``allowed_keys``, otherwise the event
  starts nothing; :class:`FixedKeyMapper`: always the same key;
- :class:`ProductMapper`: one mapper per ``|``-separated segment; :class:`ChainMapper`: one
  after the other;
- :class:`FanOutMapper`: one key to every member of a window (one run each);
- :class:`RollupMapper`: many keys to one, the run waiting until the window's members have
  arrived (:class:`WaitForAll`) or enough of them (:class:`MinimumCount`).

Every mapper, window and policy has a JSON form (:meth:`PartitionMapper.spec`), kept in the
plan; :func:`mapper_from_spec` rebuilds it where the events are matched (the trigger function).
Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.authoring.partition_windows import (  # noqa: F401 - the partition names live here too
    DayWindow,
    HourWindow,
    MinimumCount,
    MonthWindow,
    QuarterWindow,
    SegmentWindow,
    WaitForAll,
    WaitPolicy,
    WeekWindow,
    Window,
    YearWindow,
    window_from_spec,
)
from orchestrator.errors import DagDefinitionError

DEFAULT_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_PARTITION_KEY_LENGTH = 250  # Airflow's column width


def check_partition_key(key: Any) -> str:
    """``key`` if it is a partition key Airflow accepts (non-blank text up to 250 characters)."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"partition_key must not be empty or whitespace-only; got {key!r}.")
    if len(key) > MAX_PARTITION_KEY_LENGTH:
        raise ValueError(f"partition_key must be at most {MAX_PARTITION_KEY_LENGTH} characters; got {len(key)}.")
    return key


def _zone(tz: Any) -> ZoneInfo:
    name = tz if isinstance(tz, str) else getattr(tz, "name", None) or getattr(tz, "key", None) or str(tz)
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any unknown zone reads the same to the author
        raise DagDefinitionError(f"Partition mapper time zone {tz!r} is unknown; use an IANA name such as 'UTC'.") \
            from None


# ------------------------------------------------------------------ mappers


class PartitionMapper:
    """Maps an upstream event's partition key to the consumer's key(s); ``max_downstream_keys`` caps a fan-out."""

    temporal = False  # decodes keys to datetimes (pairs with the time windows)

    def __init__(self, *, max_downstream_keys: int | None = None) -> None:
        if max_downstream_keys is not None and (not isinstance(max_downstream_keys, int) or max_downstream_keys < 1):
            raise DagDefinitionError(f"max_downstream_keys must be a positive integer or None, got "
                                     f"{max_downstream_keys!r}.")
        self.max_downstream_keys = max_downstream_keys

    def to_downstream(self, key: str) -> str | list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def decode_downstream(self, key: str) -> Any:
        return key

    def encode_upstream(self, decoded: Any) -> str:
        return str(decoded)

    def to_partition_date(self, key: str) -> datetime | None:
        """The period start a downstream key stands for (the run's ``partition_date``), or None."""
        return None

    def carries_partition_date(self) -> bool:
        """Does the producer's ``partition_date`` carry over to the consumer's run (IdentityMapper)?"""
        return False

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__}
        if self.max_downstream_keys is not None:
            out["max_downstream_keys"] = self.max_downstream_keys
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class IdentityMapper(PartitionMapper):
    """The key unchanged (the default)."""

    def to_downstream(self, key: str) -> str:
        return key

    def carries_partition_date(self) -> bool:
        return True


class AllowedKeyMapper(PartitionMapper):
    """The key when it is one of ``allowed_keys``; any other key maps to nothing (no run)."""

    def __init__(self, allowed_keys: list[str], *, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.allowed_keys = list(allowed_keys)

    def to_downstream(self, key: str) -> str:
        if key not in self.allowed_keys:
            raise ValueError(f"Key {key!r} not in allowed keys {self.allowed_keys}")
        return key

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "allowed_keys": self.allowed_keys}

    def __repr__(self) -> str:
        return f"AllowedKeyMapper({self.allowed_keys!r})"


class FixedKeyMapper(PartitionMapper):
    """Every key to ``downstream_key``."""

    def __init__(self, downstream_key: str, *, max_downstream_keys: int | None = None) -> None:
        if not isinstance(downstream_key, str) or not downstream_key:
            raise DagDefinitionError(f"FixedKeyMapper downstream_key must be a non-empty str; got {downstream_key!r}.")
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.downstream_key = downstream_key

    def to_downstream(self, key: str) -> str:
        return self.downstream_key

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "downstream_key": self.downstream_key}


class ProductMapper(PartitionMapper):
    """A composite key (``us|2026-03-10T09:30:00``): each ``delimiter``-separated segment through its mapper."""

    def __init__(self, mapper0: PartitionMapper, mapper1: PartitionMapper, /, *mappers: PartitionMapper,
                 delimiter: str = "|", max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.mappers = [mapper0, mapper1, *mappers]
        self.delimiter = delimiter

    def to_downstream(self, key: str) -> str:
        segments = key.split(self.delimiter)
        if len(segments) != len(self.mappers):
            raise ValueError(f"Expected {len(self.mappers)} segments in key, got {len(segments)}")
        out = []
        for mapper, segment in zip(self.mappers, segments):
            mapped = mapper.to_downstream(segment)
            if not isinstance(mapped, str):
                raise TypeError(f"ProductMapper child mappers must return a single key, but {type(mapper).__name__} "
                                "returned multiple keys")
            out.append(mapped)
        return self.delimiter.join(out)

    def to_partition_date(self, key: str) -> datetime | None:
        segments = key.split(self.delimiter)
        if len(segments) != len(self.mappers):
            return None
        anchors = [a for m, s in zip(self.mappers, segments) if (a := m.to_partition_date(s)) is not None]
        return anchors[0] if len(anchors) == 1 else None  # none, or ambiguous

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "delimiter": self.delimiter, "mappers": [m.spec() for m in self.mappers]}


class ChainMapper(PartitionMapper):
    """The mappers one after the other (a fan-out in the chain multiplies the keys)."""

    def __init__(self, mapper0: PartitionMapper, mapper1: PartitionMapper, /, *mappers: PartitionMapper,
                 max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.mappers = [mapper0, mapper1, *mappers]

    def to_downstream(self, key: str) -> str | list[str]:
        keys = [key]
        for mapper in self.mappers:
            nxt: list[str] = []
            for k in keys:
                mapped = mapper.to_downstream(k)
                nxt.extend([mapped] if isinstance(mapped, str) else list(mapped))
            keys = nxt
        return keys[0] if len(keys) == 1 else keys

    def to_partition_date(self, key: str) -> datetime | None:
        return self.mappers[-1].to_partition_date(key)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "mappers": [m.spec() for m in self.mappers]}


_DIRECTIVES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}",
               "%V": r"\d{2}", "%U": r"\d{2}", "%W": r"\d{2}"}


def _format_regex(fmt: str, placeholders: dict[str, str] | None = None) -> re.Pattern[str]:
    """A regex with one named group per strftime directive / ``{name}`` placeholder of ``fmt``."""
    parts, i = [], 0
    while i < len(fmt):
        two = fmt[i:i + 2]
        if two in _DIRECTIVES:
            parts.append(f"(?P<{two[1]}>{_DIRECTIVES[two]})")
            i += 2
            continue
        if fmt[i] == "{" and (end := fmt.find("}", i)) != -1:
            name = fmt[i + 1:end]
            parts.append(f"(?P<{name}>{(placeholders or {}).get(name, r'[A-Za-z0-9_]+')})")
            i = end + 1
            continue
        parts.append(re.escape(fmt[i]))
        i += 1
    return re.compile("^" + "".join(parts) + "$")


class _TemporalMapper(PartitionMapper):
    """Parse a time key (``input_format``, in ``timezone``), go to the period's start, format it."""

    temporal = True
    default_output_format = ""

    def __init__(self, *, timezone: Any = "UTC", input_format: str = DEFAULT_INPUT_FORMAT,
                 output_format: str | None = None, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.timezone = timezone if isinstance(timezone, str) else str(getattr(timezone, "name", timezone))
        self._zone = _zone(self.timezone)
        self.input_format = input_format
        self.output_format = output_format or self.default_output_format

    def to_downstream(self, key: str) -> str:
        dt = datetime.strptime(key, self.input_format)
        dt = dt.replace(tzinfo=self._zone) if dt.tzinfo is None else dt.astimezone(self._zone)
        return self.format(self.normalize(dt))

    def normalize(self, dt: datetime) -> datetime:  # pragma: no cover - overridden
        raise NotImplementedError

    def format(self, dt: datetime) -> str:
        return dt.strftime(self.output_format)

    def decode_downstream(self, key: str) -> datetime:
        return datetime.strptime(key, self.output_format)

    def encode_upstream(self, decoded: Any) -> str:
        naive = decoded.astimezone(self._zone).replace(tzinfo=None) if decoded.tzinfo is not None else decoded
        return naive.replace(tzinfo=self._zone).strftime(self.input_format)

    def to_partition_date(self, key: str) -> datetime | None:
        anchor = self.normalize(self.decode_downstream(key))
        return anchor.replace(tzinfo=self._zone) if anchor.tzinfo is None else anchor

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "timezone": self.timezone, "input_format": self.input_format,
                "output_format": self.output_format}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(output_format={self.output_format!r})"


class StartOfHourMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024-03-13T10``."""

    default_output_format = "%Y-%m-%dT%H"

    def normalize(self, dt: datetime) -> datetime:
        return dt.replace(minute=0, second=0, microsecond=0)


class StartOfDayMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024-03-13``."""

    default_output_format = "%Y-%m-%d"

    def normalize(self, dt: datetime) -> datetime:
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)


class StartOfWeekMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024-03-11 (W11)`` (the ISO week's Monday)."""

    default_output_format = "%Y-%m-%d (W%V)"

    def normalize(self, dt: datetime) -> datetime:
        return (dt - timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)

    def decode_downstream(self, key: str) -> datetime:
        match = _format_regex(self.output_format).match(key)
        if match is None or not {"Y", "m", "d"} <= set(match.groupdict()):
            raise ValueError(f"StartOfWeekMapper could not parse {key!r} with output_format {self.output_format!r}; "
                             "it must include %Y, %m and %d.")
        return datetime(int(match["Y"]), int(match["m"]), int(match["d"]))


class StartOfMonthMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024-03``."""

    default_output_format = "%Y-%m"

    def normalize(self, dt: datetime) -> datetime:
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class StartOfQuarterMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024-Q1``."""

    default_output_format = "%Y-Q{quarter}"

    def normalize(self, dt: datetime) -> datetime:
        return dt.replace(month=(dt.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)

    def format(self, dt: datetime) -> str:
        return dt.strftime(self.output_format).replace("{quarter}", str((dt.month - 1) // 3 + 1))

    def decode_downstream(self, key: str) -> datetime:
        match = _format_regex(self.output_format, {"quarter": "[1-4]"}).match(key)
        if match is None or not {"Y", "quarter"} <= set(match.groupdict()):
            raise ValueError(f"StartOfQuarterMapper could not parse {key!r} with output_format "
                             f"{self.output_format!r}; it must include %Y and {{quarter}}.")
        return datetime(int(match["Y"]), (int(match["quarter"]) - 1) * 3 + 1, 1)


class StartOfYearMapper(_TemporalMapper):
    """``2024-03-13T10:42:15`` -> ``2024``."""

    default_output_format = "%Y"

    def normalize(self, dt: datetime) -> datetime:
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


_FAN_OUT_DEFAULTS: dict[str, type[_TemporalMapper]] = {
    "DayWindow": StartOfHourMapper, "WeekWindow": StartOfDayMapper, "MonthWindow": StartOfDayMapper,
    "QuarterWindow": StartOfMonthMapper, "YearWindow": StartOfMonthMapper,
}


class FanOutMapper(PartitionMapper):
    """One upstream key to one downstream key per member of ``window`` (a weekly key to seven daily runs).

    ``downstream_mapper`` formats each member; it defaults by window (day: hourly keys; week,
    month: daily; quarter, year: monthly) and must be given for ``HourWindow`` and ``SegmentWindow``.
    """

    def __init__(self, *, upstream_mapper: PartitionMapper, window: Window,
                 downstream_mapper: PartitionMapper | None = None, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        if downstream_mapper is None:
            default = _FAN_OUT_DEFAULTS.get(type(window).__name__)
            if default is None:
                raise DagDefinitionError(f"FanOutMapper has no default downstream_mapper for window type "
                                         f"{type(window).__name__}; pass downstream_mapper explicitly.")
            downstream_mapper = default()
        self.upstream_mapper, self.window, self.downstream_mapper = upstream_mapper, window, downstream_mapper

    def to_downstream(self, key: str) -> list[str]:
        formatted = self.upstream_mapper.to_downstream(key)
        if not isinstance(formatted, str):
            raise TypeError("FanOutMapper.upstream_mapper must produce a single key.")
        start = self.upstream_mapper.decode_downstream(formatted)
        out = []
        for member in self.window.members(start):
            fmt = getattr(self.downstream_mapper, "format", None)
            out.append(fmt(member) if callable(fmt) else member.isoformat() if isinstance(member, datetime)
                       else str(member))
        return out

    def to_partition_date(self, key: str) -> datetime | None:
        return self.downstream_mapper.to_partition_date(key)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "upstream_mapper": self.upstream_mapper.spec(), "window": self.window.spec(),
                "downstream_mapper": self.downstream_mapper.spec()}


class RollupMapper(PartitionMapper):
    """Many upstream keys to one downstream key: ``upstream_mapper`` gives the downstream key, ``window`` the
    upstream keys it needs, ``wait_policy`` (default :class:`WaitForAll`) when enough have arrived."""

    def __init__(self, *, upstream_mapper: PartitionMapper, window: Window, wait_policy: WaitPolicy | None = None,
                 max_downstream_keys: int | None = None) -> None:
        if upstream_mapper.temporal != window.temporal:
            raise DagDefinitionError(
                f"{type(window).__name__} expects {'datetime' if window.temporal else 'str'} keys, but "
                f"{type(upstream_mapper).__name__} decodes to {'datetime' if upstream_mapper.temporal else 'str'}; "
                "pair a time window with a StartOf...Mapper and SegmentWindow with FixedKeyMapper.")
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.upstream_mapper, self.window = upstream_mapper, window
        self.wait_policy = wait_policy or WaitForAll()

    def to_downstream(self, key: str) -> str | list[str]:
        return self.upstream_mapper.to_downstream(key)

    def to_upstream(self, key: str) -> set[str]:
        """Every upstream key the downstream ``key`` needs."""
        start = self.upstream_mapper.decode_downstream(key)
        return {self.upstream_mapper.encode_upstream(m) for m in self.window.members(start)}

    def to_partition_date(self, key: str) -> datetime | None:
        return self.upstream_mapper.to_partition_date(key)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "upstream_mapper": self.upstream_mapper.spec(), "window": self.window.spec(),
                "wait_policy": self.wait_policy.spec()}


_SIMPLE: dict[str, type[PartitionMapper]] = {c.__name__: c for c in (
    IdentityMapper, StartOfHourMapper, StartOfDayMapper, StartOfWeekMapper, StartOfMonthMapper,
    StartOfQuarterMapper, StartOfYearMapper)}


def mapper_from_spec(spec: dict[str, Any]) -> PartitionMapper:
    """The mapper :meth:`PartitionMapper.spec` described (KeyError/ValueError on a spec it never wrote)."""
    kind, cap = spec["type"], spec.get("max_downstream_keys")
    if kind in _SIMPLE:
        cls = _SIMPLE[kind]
        if issubclass(cls, _TemporalMapper):
            return cls(timezone=spec.get("timezone", "UTC"), input_format=spec.get("input_format", DEFAULT_INPUT_FORMAT),
                       output_format=spec.get("output_format"), max_downstream_keys=cap)
        return cls(max_downstream_keys=cap)
    if kind == "AllowedKeyMapper":
        return AllowedKeyMapper(spec["allowed_keys"], max_downstream_keys=cap)
    if kind == "FixedKeyMapper":
        return FixedKeyMapper(spec["downstream_key"], max_downstream_keys=cap)
    if kind == "ProductMapper":
        return ProductMapper(*[mapper_from_spec(m) for m in spec["mappers"]], delimiter=spec.get("delimiter", "|"),
                             max_downstream_keys=cap)
    if kind == "ChainMapper":
        return ChainMapper(*[mapper_from_spec(m) for m in spec["mappers"]], max_downstream_keys=cap)
    if kind == "FanOutMapper":
        return FanOutMapper(upstream_mapper=mapper_from_spec(spec["upstream_mapper"]),
                            window=window_from_spec(spec["window"]),
                            downstream_mapper=mapper_from_spec(spec["downstream_mapper"]), max_downstream_keys=cap)
    if kind == "RollupMapper":
        policy = spec.get("wait_policy") or {"type": "WaitForAll"}
        return RollupMapper(upstream_mapper=mapper_from_spec(spec["upstream_mapper"]),
                            window=window_from_spec(spec["window"]),
                            wait_policy=MinimumCount(policy["n"]) if policy["type"] == "MinimumCount" else WaitForAll(),
                            max_downstream_keys=cap)
    raise ValueError(f"unknown partition mapper {kind!r}")


def mapper_problem(mapper: Any) -> str | None:
    """Why ``mapper`` cannot be kept in a plan (a user's own PartitionMapper subclass), or None."""
    if not isinstance(mapper, PartitionMapper):
        return f"{mapper!r} is not a partition mapper (IdentityMapper(), StartOfDayMapper(), AllowedKeyMapper([...]), ...)"
    if type(mapper).__name__ not in {*_SIMPLE, "AllowedKeyMapper", "FixedKeyMapper", "ProductMapper", "ChainMapper",
                                     "FanOutMapper", "RollupMapper"} or type(mapper).__module__ != __name__:
        return (f"{type(mapper).__name__} is a custom partition mapper, which Stratus cannot keep in the plan "
                "(its code would run in the trigger function); compose the built-in mappers (ProductMapper, "
                "ChainMapper, AllowedKeyMapper, FixedKeyMapper, StartOf...Mapper) instead")
    for child in [getattr(mapper, a, None) for a in ("upstream_mapper", "downstream_mapper")] + list(
            getattr(mapper, "mappers", [])):
        if child is not None and (problem := mapper_problem(child)):
            return problem
    return None
