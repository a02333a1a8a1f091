"""A function built once per botocore shape, for the speed-ups that replace a generic walk of
botocore's models (``botovalidate``: request parameters; ``botoparse``: JSON responses).

botocore makes a new ``Shape`` object each time it resolves a reference, so a recursive shape
(DynamoDB's ``AttributeValue`` holds maps and lists of itself) never meets the same object
twice: what is built is kept by service model (its shape resolver) and the shape's name with
its traits (``trait_key``: a reference's member traits are merged over the named shape's, so
two references to one name may differ), and by shape object for the lookup per request. A
shape met again while it is being built refers to its function through a cell. A shape
without a name or resolver, or one the builder fails on, gets ``fallback(shape)``: botocore's
own walk.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable


def trait_key(shape: Any) -> tuple[str, ...]:
    """The shape's name, type, metadata and serialization traits: what any of the builders may read of it."""
    return (shape.name, shape.type_name, repr(sorted(shape.metadata.items())),
            repr(sorted(shape.serialization.items())))


class ShapeTable:
    """Shape -> ``build(shape)``, built on first use (see the module docstring)."""

    def __init__(self, build: Callable[[Any], Callable[..., Any]],
                 fallback: Callable[[Any], Callable[..., Any]]) -> None:
        self._build = build
        self._fallback = fallback
        self._kept: weakref.WeakKeyDictionary[Any, Callable[..., Any]] = weakref.WeakKeyDictionary()
        self._named: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Callable[..., Any]]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    def of(self, shape: Any) -> Callable[..., Any]:
        """The function for ``shape`` (a request's: kept per shape object)."""
        try:
            found = self._kept.get(shape)
        except TypeError:  # not weakly referable
            return self._fallback(shape)
        if found is None:
            with self._lock:
                found = self._kept.get(shape)
                if found is None:
                    found = self._kept[shape] = self.child(shape)
        return found

    def child(self, shape: Any) -> Callable[..., Any]:
        """The function for ``shape`` met inside another one's build (kept by service model and key)."""
        resolver = getattr(shape, "_shape_resolver", None)
        if resolver is None or not getattr(shape, "name", None):
            return self._fallback(shape)  # nothing to meet it again by
        with self._lock:
            table = self._named.get(resolver)
            if table is None:
                table = self._named[resolver] = {}
            key = trait_key(shape)
            found = table.get(key)
            if found is not None:
                return found
            cell: list[Callable[..., Any]] = [self._fallback(shape)]
            table[key] = lambda *args: cell[0](*args)
            try:
                built = self._build(shape)
            except Exception:  # noqa: BLE001 - a shape the builder does not understand: botocore's walk
                built = self._fallback(shape)
            cell[0] = table[key] = built
            return built


class PerShape:
    """A builder of one function per shape: subclasses give ``_build`` and ``_fallback``."""

    def __init__(self) -> None:
        self._table = ShapeTable(self._build, self._fallback)

    def of(self, shape: Any) -> Callable[..., Any]:
        """The function for a request's shape."""
        return self._table.of(shape)

    def _child(self, shape: Any) -> Callable[..., Any]:
        return self._table.child(shape)

    def _build(self, shape: Any) -> Callable[..., Any]:
        raise NotImplementedError

    def _fallback(self, shape: Any) -> Callable[..., Any]:
        raise NotImplementedError
