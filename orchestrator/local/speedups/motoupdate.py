"""moto's UpdateItem for the simple expressions the run store writes, without the AST pipeline.

``SET #a = :v, ...``, ``ADD #n :number, ...`` and ``REMOVE #r, ...`` on top-level attributes
(each named through an ``ExpressionAttributeNames`` placeholder) are what nearly every store
write is. moto validates and applies them through ten walks over a parsed tree; for these
shapes the outcome is fixed: the value placeholders' values are stored, numbers are added,
attributes are removed, in the order moto applies them (sets and adds as written, removes
last). Anything else, or anything moto would reject (an unknown placeholder, the same
attribute twice, a key or index attribute, an ADD onto a non-number, a REMOVE written before
a SET), goes through moto's own validator and executor, which raise what they raise.

``install(parsed_tree)`` hooks ``UpdateExpressionValidator.validate`` and
``UpdateExpressionExecutor.execute``; ``orchestrator.local.speedups.motofast`` calls it. Local only.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<kw>[A-Za-z]+)\b|(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<op>[=,]))")
_PLANS: dict[str, tuple[tuple[str, str, str | None], ...] | None] = {}
_PLANS_MAX = 2048
_FLAG = "_stratus_simple"

Plan = tuple[tuple[str, str, "str | None"], ...]


def plan_of(expression: str) -> Plan | None:
    """The actions of a simple update expression in moto's order, or None when it is not simple.

    Each action is ``(kind, name placeholder, value placeholder or None)``, kind SET/ADD/REMOVE.
    """
    if expression in _PLANS:
        return _PLANS[expression]
    plan = _parse(expression)
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[expression] = plan
    return plan


def _tokens(expression: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos, end = 0, len(expression.rstrip())
    while pos < end:
        m = _TOKEN.match(expression, pos)
        if m is None or m.end() == pos:
            return None
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse(expression: str) -> Plan | None:
    tokens = _tokens(expression)
    if not tokens:
        return None
    actions: list[tuple[str, str, str | None]] = []
    clauses: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        clause = text.upper()
        if kind != "kw" or clause not in ("SET", "ADD", "REMOVE") or clause in clauses:
            return None
        if clause != "REMOVE" and "REMOVE" in clauses:
            return None  # moto moves removes around the actions that follow them: leave it to moto
        clauses.add(clause)
        i += 1
        while True:
            shape = {"SET": ("name", "=", "value"), "ADD": ("name", "value"), "REMOVE": ("name",)}[clause]
            part = tokens[i:i + len(shape)]
            if len(part) != len(shape):
                return None
            for (kind, text), want in zip(part, shape):
                if (kind != "op" and kind != want) or (kind == "op" and text != want):
                    return None
            name = part[0][1]
            value = part[-1][1] if clause != "REMOVE" else None
            actions.append((clause, name, value))
            i += len(shape)
            if i < len(tokens) and tokens[i] == ("op", ","):
                i += 1
                continue
            break
    return tuple(actions)


class SimpleUpdate:
    """A validated simple update: stands in for moto's validated tree (``normalize`` is a no-op)."""

    def __init__(self, actions: list[tuple[str, str, Any]]) -> None:
        self.actions = actions

    def normalize(self) -> None:
        pass

    def apply(self, item: Any) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        attrs = item.attrs
        sized = _SizedAttributes(attrs)
        for kind, name, value in self.actions:
            if kind == "SET":
                sized.set(name, value)
            elif kind == "ADD":
                current = attrs.get(name)
                sized.set(name, (current if current is not None else DynamoType({"N": "0"})) + value)
        for kind, name, _ in self.actions:
            if kind == "REMOVE":
                attrs.pop(name, None)


class _SizedAttributes:
    """Sets on an item's attributes with moto's size check (``LimitedSizeDict.__setitem__``),
    the item's size counted once instead of at every set.

    moto re-measures the whole item (every name and value, recursively) before each attribute it
    sets: a 30-attribute write measures the item 30 times. The same check is made here, on the
    same numbers (the item as it stands, the replaced value included, plus the new name and
    value, against moto's 405,000), from a running total.
    """

    def __init__(self, attrs: Any) -> None:
        from moto.dynamodb.models.dynamo_type import LimitedSizeDict

        self.attrs = attrs
        self.checked = isinstance(attrs, LimitedSizeDict)
        self.total = sum(_size(k) + _size(v) for k, v in attrs.items()) if self.checked else 0

    def set(self, name: str, value: Any) -> None:
        if not self.checked:
            self.attrs[name] = value
            return
        from moto.dynamodb.exceptions import ItemSizeTooLarge

        new = _size(name) + _size(value)
        if self.total + new > _MOTO_ITEM_LIMIT:
            raise ItemSizeTooLarge
        old = self.attrs.get(name, _ABSENT)
        dict.__setitem__(self.attrs, name, value)
        self.total += new if old is _ABSENT else _size(value) - _size(old)


_MOTO_ITEM_LIMIT = 405000  # LimitedSizeDict's own
_ABSENT = object()


_SETS = frozenset(("SS", "NS", "BS"))


def dynamo_size(self: Any) -> int:
    """``DynamoType.size``, the same number without its copies.

    moto's measures a map's values through ``DynamoType(value).size()``: a copy of each value
    that copies every element of the lists and maps inside it again, level by level (an item's
    history list of maps is copied whole for every measure, and moto measures an item before
    every write and every item a query returns, for its 405,000-byte and 1 MB checks). Here a
    value that is a ``DynamoType`` is measured in place; anything else goes through
    ``DynamoType(value)`` as in moto (with moto's errors); a set's element as moto's
    ``DynamoType({"S"|"N"|"B": element})`` measures it.
    """
    kind, value = self.type, self.value
    if kind in _SETS:
        sub = kind[0]
        return sum(_scalar_size(sub, v) for v in value)
    if kind == "L":
        return sum(v.size() for v in value)
    if kind == "M":
        from moto.dynamodb.models.dynamo_type import DynamoType

        return sum(_bytesize(k) + (v.size() if type(v) is DynamoType else DynamoType(v).size())
                   for k, v in value.items())
    return _scalar_size(kind, value)


def _scalar_size(kind: str, value: Any) -> int:
    """A value that is neither a set, a list nor a map, as moto measures it."""
    if kind == "N":
        return len(str(value))
    if isinstance(value, bool):
        return 1
    return _bytesize(value)


def _bytesize(value: Any) -> int:
    """moto's ``bytesize``."""
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _size(value: Any) -> int:
    """One key or value as ``LimitedSizeDict.__setitem__`` measures it."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    return value.size() if type(value) is DynamoType else bytesize(str(value))


def simple_update(expression: str, validator: Any) -> SimpleUpdate | None:
    """The update ``validator`` would produce for ``expression``, when it is simple and valid."""
    plan = plan_of(expression)
    if not plan:
        return None
    from moto.dynamodb.models.dynamo_type import DynamoType

    names = validator.expression_attribute_names or {}
    values = validator.expression_attribute_values or {}
    table, item = validator.table, validator.item
    guarded = set(table.table_key_attrs) | set(table.attribute_keys)
    guarded |= {a.get("AttributeName") for a in (table.attr or []) if isinstance(a, dict)}
    seen: set[str] = set()
    actions: list[tuple[str, str, Any]] = []
    for kind, name_ph, value_ph in plan:
        name = names.get(name_ph)
        if not isinstance(name, str) or name in seen or name in guarded or name_ph in guarded:
            return None
        seen.add(name)
        value = None
        if value_ph is not None:
            raw = values.get(value_ph)
            if not isinstance(raw, dict) or len(raw) != 1:
                return None
            if kind == "ADD":
                current = item.attrs.get(name) if item is not None else None
                if "N" not in raw or (current is not None and current.type != "N"):
                    return None
            value = DynamoType(raw)
        actions.append((kind, name, value))
    return SimpleUpdate(actions)


def install(materialize: Any) -> None:
    """Hook moto's update validator and executor.

    ``materialize(node)`` turns what the validator holds (see ``motofast``: a deferred copy
    that knows its expression text as ``.stratus_source``) into moto's tree when moto must do the work.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    if not getattr(DynamoType.size, _FLAG, False):
        setattr(dynamo_size, _FLAG, True)
        dynamo_size.__wrapped__ = DynamoType.size  # type: ignore[attr-defined]
        DynamoType.size = dynamo_size  # type: ignore[method-assign]
    validate = UpdateExpressionValidator.validate
    if getattr(validate, _FLAG, False):
        return
    execute = UpdateExpressionExecutor.execute

    def fast_validate(self: Any) -> Any:
        source = getattr(self.node_to_validate, "stratus_source", None)
        if source is not None:
            fast = simple_update(source, self)
            if fast is not None:
                return fast
        self.node_to_validate = materialize(self.node_to_validate)
        return validate(self)

    def fast_execute(self: Any, node: Any = None) -> None:
        if node is None and isinstance(self.update_ast, SimpleUpdate):
            self.update_ast.apply(self.item)
            return
        execute(self, node)

    setattr(fast_validate, _FLAG, True)
    UpdateExpressionValidator.validate = fast_validate  # type: ignore[method-assign]
    UpdateExpressionExecutor.execute = fast_execute  # type: ignore[method-assign]
