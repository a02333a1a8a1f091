"""An opt-in fix for moto's slowest path under Stratus: ``TransactWriteItems`` copies whole tables.

moto's ``DynamoDBBackend.transact_write_items`` deep-copies every table a transaction
touches, once per action, so that it can roll back a cancelled transaction. Stratus writes
each task's terminal state and the run's counters in one transaction, so on the local cloud
every task pays a copy of the whole table: a run's time grows with the square of its task
count (a 10,000-map never finishes). AWS does nothing of the kind.

``cheap_transactions()`` keeps moto's semantics and swaps only the backup: it snapshots the
items the transaction names (by key) before calling moto, lets moto's table copy be the
table itself, and on failure restores exactly those items. It stays as the small, moto-faithful
alternative to ``orchestrator.local.speedups.motofast`` (which the local cloud installs); the
benchmarks reach both through ``fast_moto()``. Local only: never used on AWS.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

from orchestrator.local.speedups.motofast import transact_item_key


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models``: a Table 'deep copy' is the table."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    saved = []
    for action in transact_items:
        try:
            (op_type, op), = action.items()
            table = backend.tables[op["TableName"]]
            key = transact_item_key(table, op_type, op)
            hash_key, range_key = backend.get_keys_value(table, key)
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        except Exception:  # noqa: BLE001 - a malformed action: moto itself raises the proper error
            continue
    return saved


def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            with contextlib.suppress(Exception):
                table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


def fast_moto() -> str:
    """Make moto fast for big runs, for the rest of the process; returns what was applied.

    ``orchestrator.local.speedups.install()``: what the local cloud installs on start
    (nothing with ``STRATUS_MOTO_FAST=0`` or on an untested moto).
    """
    from orchestrator.local import speedups

    if not speedups.install():
        return "nothing (plain moto: STRATUS_MOTO_FAST=0 or an untested moto)"
    return "orchestrator.local.speedups"


@contextlib.contextmanager
def cheap_transactions() -> Iterator[None]:
    """Within the block, moto's ``TransactWriteItems`` backs up the touched items, not whole tables."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
    original_copy = models.copy

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched(self, transact_items)
        try:
            return original(self, transact_items)
        except Exception:
            _restore(saved)
            raise

    models.copy = _TablesAreNotCopied(Table)  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        models.copy = original_copy
