"""botocore's parameter validation, answered once per input shape instead of once per value.

Before every request botocore checks the parameters against the operation's input shape
(``botocore.validate.ParamValidator``): a generic walk that looks up a method by type name and
wraps a type check around it at every node. A DynamoDB transaction of two items is some 70
nodes: about a tenth of an in-process moto call's CPU.

Here each shape gets a checker built once (``speedups.shapetable``) that answers one
question: would botocore find no error in these parameters? Only a certain "yes" is taken
(``validate`` returns botocore's empty report); anything else goes to botocore's own
validator, which writes its report as before. So an invalid call fails with botocore's
words, and a valid one passes, exactly as without this. The checker mirrors the rules of
the botocore the suite runs on (constraints.txt): types by botocore's own ``SCALAR_TYPES`` and
``CONTAINER_TYPES`` (so ``True`` passes as an integer, as there), ``min`` on lengths and
numbers (``hostLabel`` strings at least 1 long), required and unknown members, tagged unions
with one member set. Timestamps other than ``datetime`` objects, documents and JSON-value
headers are always left to botocore. ``install()`` does nothing when botocore validates
another set of constraints than this module knows (``VALIDATED_METADATA_ATTRS``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from orchestrator.local.speedups.shapetable import PerShape

Checker = Callable[[Any], bool]

_FLAG = "_stratus_fast"
KNOWN_CONSTRAINTS = frozenset({"required", "min", "document", "union"})


def install() -> None:
    """Answer valid parameters from the shape's checker (idempotent; no-op on an unknown validator)."""
    from botocore import validate

    original = validate.ParamValidator.validate
    if getattr(original, _FLAG, False):
        return
    if set(getattr(validate.ParamValidator, "VALIDATED_METADATA_ATTRS", ())) != KNOWN_CONSTRAINTS:
        return
    checkers = Checkers(validate.ParamValidator.SCALAR_TYPES, validate.ParamValidator.CONTAINER_TYPES)

    def fast_validate(self: Any, params: Any, shape: Any) -> Any:
        try:
            valid = checkers.of(shape)(params)
        except Exception:  # noqa: BLE001 - e.g. comparing a NaN Decimal: botocore's validator says what
            valid = False
        if valid:
            return validate.ValidationErrors()
        return original(self, params, shape)

    fast_validate.__doc__ = original.__doc__
    fast_validate.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(fast_validate, _FLAG, True)
    validate.ParamValidator.validate = fast_validate  # type: ignore[method-assign]


def _never(value: Any) -> bool:
    return False


class Checkers(PerShape):
    """Shape -> its checker (see the module docstring), built on first use (``shapetable``)."""

    def __init__(self, scalar_types: dict[str, Any], container_types: dict[str, Any]) -> None:
        self.scalar = scalar_types
        self.container = container_types
        super().__init__()

    def _fallback(self, shape: Any) -> Checker:
        return _never

    def _build(self, shape: Any) -> Checker:
        from botocore.utils import is_json_value_header

        kind = shape.type_name
        if is_json_value_header(shape) or (kind == "structure" and shape.is_document_type):
            return _never
        low = _min_allowed(shape)
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape, low)
        if kind == "map":
            return self._map(shape)
        if kind == "string":
            return _sized(self.scalar["string"], low)
        if kind in ("integer", "long", "float", "double"):
            return _ranged(self.scalar[kind], low)
        if kind == "boolean":
            types = self.scalar["boolean"]
            return lambda value: isinstance(value, types)
        if kind == "blob":
            return lambda value: isinstance(value, (bytes, bytearray, str)) or hasattr(value, "read")
        if kind == "timestamp":
            return lambda value: isinstance(value, datetime)
        return _never

    def _structure(self, shape: Any) -> Checker:
        types = self.container["structure"]
        required = tuple(shape.metadata.get("required", []))
        members = {name: self._child(member) for name, member in shape.members.items()}
        union = bool(shape.is_tagged_union)

        def check(value: Any) -> bool:
            if not isinstance(value, types) or (union and len(value) != 1):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                member = members.get(name)
                if member is None or not member(item):
                    return False
            return True

        return check

    def _list(self, shape: Any, low: Any) -> Checker:
        types = self.container["list"]
        member = self._child(shape.member)

        def check(value: Any) -> bool:
            if not isinstance(value, types) or (low is not None and len(value) < low):
                return False
            for item in value:
                if not member(item):
                    return False
            return True

        return check

    def _map(self, shape: Any) -> Checker:
        types = self.container["map"]
        key, val = self._child(shape.key), self._child(shape.value)

        def check(value: Any) -> bool:
            if not isinstance(value, types):
                return False
            for k, v in value.items():
                if not key(k) or not val(v):
                    return False
            return True

        return check


def _min_allowed(shape: Any) -> Any:
    """botocore's ``range_check`` lower bound for ``shape``, or None for none."""
    if "min" in shape.metadata:
        return shape.metadata["min"]
    if hasattr(shape, "serialization") and shape.serialization.get("hostLabel"):
        return 1
    return None


def _sized(types: Any, low: Any) -> Checker:
    if low is None:
        return lambda value: isinstance(value, types)
    return lambda value: isinstance(value, types) and not len(value) < low


def _ranged(types: Any, low: Any) -> Checker:
    if low is None:
        return lambda value: isinstance(value, types)
    return lambda value: isinstance(value, types) and not value < low
