"""botocore's JSON-protocol request body, serialized by a function built once per input shape.

``botocore.serialize.JSONSerializer`` writes a request's parameters into the body by walking
the input shape, looking up a method by type name at every node (and wrapping every list item
in a dict of its own). Here each shape gets a function built once (``speedups.shapetable``)
that takes the same steps: a structure's members in the order the caller gave them, under their
wire names (a member the model does not know fails with botocore's ``KeyError``), a nested
structure or map in a new ``MAP_TYPE``, a list's items one by one, timestamps, blobs and floats
through the serializer's own methods with the shape's timestamp format, every other type as
given (botocore's default). Documents are written as given, as there. ``install()`` changes
nothing unless ``JSONSerializer``'s methods are the ones this was written against, and
serializers of other classes keep botocore's walk.
"""

from __future__ import annotations

import decimal
from typing import Any, Callable

from orchestrator.local.speedups.shapetable import PerShape

Write = Callable[[Any, Any, Any, Any], None]  # (the serializer, the dict written to, the value, its key)

_FLAG = "_stratus_fast"
_KINDS = ("structure", "map", "list", "timestamp", "blob", "float", "double", "string", "integer", "long",
          "boolean")


def expected_methods() -> dict[str, Any]:
    """Type name -> the method ``JSONSerializer`` must resolve to for the writes here to be the same (None: the default)."""
    from botocore import serialize

    own = serialize.JSONSerializer.__dict__
    return {kind: own.get(f"_serialize_type_{kind}") for kind in _KINDS}


def install() -> None:
    """Serialize JSON-protocol requests with the per-shape functions (idempotent; no-op on other methods)."""
    from botocore import serialize

    original = serialize.JSONSerializer._serialize
    if getattr(original, _FLAG, False):
        return
    expected = expected_methods()
    if expected["structure"] is None or any(
            getattr(serialize.JSONSerializer, f"_serialize_type_{kind}", None) is not method
            for kind, method in expected.items()):
        return
    writes = Writes()

    def _serialize(self: Any, serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        if type(self) is not serialize.JSONSerializer:  # a subclass may write types its own way
            return original(self, serialized, value, shape, key)  # type: ignore[no-any-return]
        writes.of(shape)(self, serialized, value, key)
        return None

    _serialize.__doc__ = original.__doc__
    _serialize.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(_serialize, _FLAG, True)
    serialize.JSONSerializer._serialize = _serialize  # type: ignore[method-assign]


def _as_botocore(shape: Any) -> Write:
    from botocore import serialize

    method = getattr(serialize.JSONSerializer, "_serialize")

    def write(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
        getattr(method, "__wrapped__", method)(serializer, serialized, value, shape, key)

    return write


def _as_given(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
    serialized[key] = value


class Writes(PerShape):
    """Shape -> its write (see the module docstring), built on first use."""

    def _fallback(self, shape: Any) -> Write:
        return _as_botocore(shape)

    def _build(self, shape: Any) -> Write:
        kind = shape.type_name
        if kind == "structure":
            return _as_given if shape.is_document_type else self._structure(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat")

            def timestamp(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
                serialized[key] = serializer._convert_timestamp_to_str(value, fmt)

            return timestamp
        if kind == "blob":
            def blob(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
                serialized[key] = serializer._get_base64(value)

            return blob
        if kind in ("float", "double"):
            def number(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
                if isinstance(value, decimal.Decimal):
                    value = float(value)
                serialized[key] = serializer._handle_float(value)

            return number
        if kind in _KINDS:
            return _as_given
        return _as_botocore(shape)

    def _structure(self, shape: Any) -> Write:
        members = {name: (member.serialization.get("name", name), self._child(member))
                   for name, member in shape.members.items()}

        def structure(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
            if key is not None:
                nested = serializer.MAP_TYPE()
                serialized[key] = nested
                serialized = nested
            for name, item in value.items():
                wire, write = members[name]
                write(serializer, serialized, item, wire)

        return structure

    def _map(self, shape: Any) -> Write:
        write = self._child(shape.value)

        def mapping(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
            out = serializer.MAP_TYPE()
            serialized[key] = out
            for k, item in value.items():
                write(serializer, out, item, k)

        return mapping

    def _list(self, shape: Any) -> Write:
        write = self._child(shape.member)

        def listing(serializer: Any, serialized: Any, value: Any, key: Any) -> None:
            out: list[Any] = []
            serialized[key] = out
            for item in value:
                wrapper: dict[str, Any] = {}
                write(serializer, wrapper, item, "__current__")
                out.append(wrapper["__current__"])

        return listing
