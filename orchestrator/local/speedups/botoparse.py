"""botocore's walk of a JSON-protocol response, built once per output shape.

``botocore.parsers.JSONParser`` (DynamoDB, SQS, Logs, Events, ...) turns a response's JSON into
the documented Python values by walking the output shape, looking up a handler by type name at
every node and going through every member of every structure: for DynamoDB, each attribute
value is a structure of ten members, and a claim's item read back holds a dozen of them.

Here each shape gets a function built once (``speedups.shapetable``) that takes the same steps
in the same order: a structure's members in the shape's order, read under their wire names,
null ones left out (``None`` for a null structure, a document as it came); a list's items with
its nulls kept; a map's keys and values; blobs and timestamps through the parser's own
functions; every other type as it came, which is what botocore's default handler does. Tagged
unions, and any type with a handler this module was not written for, go through botocore's
own walk. ``install()`` changes nothing unless ``JSONParser``'s handlers are the ones this was
written against, and parsers of other classes keep botocore's walk.
"""

from __future__ import annotations

from typing import Any, Callable

from orchestrator.local.speedups.shapetable import PerShape

Walk = Callable[[Any, Any], Any]  # (the parser, the JSON value) -> the parsed value

_FLAG = "_stratus_fast"
_KINDS = ("structure", "list", "map", "blob", "timestamp", "string", "integer", "long", "float", "double",
          "boolean", "document")


def expected_handlers() -> dict[str, Any]:
    """Type name -> the handler ``JSONParser`` must resolve to for the walk here to be the same (None: the default)."""
    from botocore import parsers

    known = {"structure": parsers.BaseJSONParser.__dict__["_handle_structure"],
             "map": parsers.BaseJSONParser.__dict__["_handle_map"],
             "blob": parsers.BaseJSONParser.__dict__["_handle_blob"],
             "timestamp": parsers.BaseJSONParser.__dict__["_handle_timestamp"],
             "list": parsers.ResponseParser.__dict__["_handle_list"]}
    return {kind: known.get(kind) for kind in _KINDS}


def install() -> None:
    """Walk JSON-protocol responses with the per-shape functions (idempotent; no-op on other handlers)."""
    from botocore import parsers

    original = parsers.JSONParser._handle_json_body
    if getattr(original, _FLAG, False):
        return
    for kind, handler in expected_handlers().items():
        if getattr(parsers.JSONParser, f"_handle_{kind}", None) is not handler:
            return
    walks = Walks()

    def _handle_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
        if type(self) is not parsers.JSONParser:  # a subclass may handle types its own way
            return original(self, raw_body, shape)
        return walks.of(shape)(self, self._parse_body_as_json(raw_body))

    _handle_json_body.__doc__ = original.__doc__
    _handle_json_body.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(_handle_json_body, _FLAG, True)
    parsers.JSONParser._handle_json_body = _handle_json_body  # type: ignore[method-assign]


def _as_botocore(shape: Any) -> Walk:
    return lambda parser, value: parser._parse_shape(shape, value)


def _as_is(parser: Any, value: Any) -> Any:
    return value


class Walks(PerShape):
    """Shape -> its walk (see the module docstring), built on first use."""

    def _fallback(self, shape: Any) -> Walk:
        return _as_botocore(shape)

    def _build(self, shape: Any) -> Walk:
        kind = shape.type_name
        if kind not in _KINDS:
            return _as_botocore(shape)
        if kind == "structure":
            if shape.is_document_type:
                return _as_is
            if shape.is_tagged_union:
                return _as_botocore(shape)
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "blob":
            return lambda parser, value: parser._blob_parser(value)
        if kind == "timestamp":
            return lambda parser, value: parser._timestamp_parser(value)
        return _as_is

    def _structure(self, shape: Any) -> Walk:
        members = tuple((name, member.serialization.get("name", name), self._child(member))
                        for name, member in shape.members.items())

        def walk(parser: Any, value: Any) -> Any:
            if value is None:
                return None
            out: dict[str, Any] = {}
            if members:
                get = value.get
                for name, wire, member in members:
                    raw = get(wire)
                    if raw is not None:
                        out[name] = member(parser, raw)
            return out

        return walk

    def _list(self, shape: Any) -> Walk:
        member = self._child(shape.member)
        return lambda parser, value: [None if item is None else member(parser, item) for item in value]

    def _map(self, shape: Any) -> Walk:
        key, val = self._child(shape.key), self._child(shape.value)
        return lambda parser, value: {key(parser, k): val(parser, v) for k, v in value.items()}
