"""The shared plumbing of the run store: one table, one client, conditional writes -> ConflictError."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import ClientError

from orchestrator.config import Clients, Resources
from orchestrator.errors import ConflictError, StoreError, ThrottledError
from orchestrator.store import dynamo as d
from orchestrator.store.xcom import XComStore


RUN_SK = "RUN"  # the run item's sort key (store.runs)
# Per-item reasons for which DynamoDB cancels a transaction that may succeed if sent again:
# nothing was written. They never mean "someone else did it": only ConditionalCheckFailed does.
TRANSIENT_REASONS = frozenset({"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded",
                               "RequestLimitExceeded"})
TRANSACT_ATTEMPTS = 8  # a hot run item throttled for a few seconds still gets its write in


@dataclass
class Update:
    """One UpdateItem (or transaction Update) built from Python values.

    ``set_``: SET a = v; ``add``: ADD a n (numbers) or a set; ``remove``: REMOVE a;
    ``append``: SET a = list_append(if_not_exists(a, []), v); ``keep``: SET a = if_not_exists(a, v).
    ``condition`` may use ``#name`` placeholders listed in ``names`` and ``:value``
    placeholders listed in ``values`` (Python values).
    """

    set_: dict[str, Any] = field(default_factory=dict)
    add: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    append: dict[str, list[Any]] = field(default_factory=dict)
    keep: dict[str, Any] = field(default_factory=dict)
    raw_set: list[str] = field(default_factory=list)  # "#x = ..." clauses using names/values
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        names = dict(self.names)
        vals: dict[str, Any] = {k: d.serialize(v) for k, v in self.values.items()}
        counter = iter(range(10_000))

        def n(attr: str) -> str:
            key = f"#u{next(counter)}"
            names[key] = attr
            return key

        def v(value: Any) -> str:
            key = f":u{next(counter)}"
            vals[key] = d.serialize(value)
            return key

        sets = [f"{n(a)} = {v(x)}" for a, x in self.set_.items() if x is not None]
        sets += [f"{(k := n(a))} = list_append(if_not_exists({k}, {v([])}), {v(x)})" for a, x in self.append.items()]
        sets += [f"{(k := n(a))} = if_not_exists({k}, {v(x)})" for a, x in self.keep.items()]
        sets += list(self.raw_set)
        removes = [n(a) for a in self.remove] + [n(a) for a, x in self.set_.items() if x is None]
        adds = [f"{n(a)} {v(x)}" for a, x in self.add.items()]
        parts = []
        if sets:
            parts.append("SET " + ", ".join(sets))
        if adds:
            parts.append("ADD " + ", ".join(adds))
        if removes:
            parts.append("REMOVE " + ", ".join(removes))
        out: dict[str, Any] = {"UpdateExpression": " ".join(parts)}
        if self.condition:
            out["ConditionExpression"] = self.condition
        if names:
            out["ExpressionAttributeNames"] = names
        if vals:
            out["ExpressionAttributeValues"] = vals
        return out


class StoreBase:
    """Holds the client and table name; every method of the store goes through these helpers."""

    def __init__(self, clients: Clients, resources: Resources) -> None:
        self.clients = clients
        self.resources = resources
        self.table = resources.table
        self.xcom = XComStore(clients.client("s3"), resources.artefact_bucket)
        # How a cancelled transaction waits before it is sent again (the chaos harness moves its clock).
        self.sleep: Callable[[float], None] = time.sleep

    @property
    def ddb(self) -> Any:
        return self.clients.client("dynamodb")

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=consistent)
        return d.from_item(resp.get("Item"))

    def _put(self, attrs: dict[str, Any], *, condition: str | None = None, what: str = "item") -> None:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": d.to_item(attrs)}
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            self.ddb.put_item(**kwargs)
        except ClientError as err:
            if d.is_conditional_failure(err):
                raise ConflictError(f"{what} already exists or changed concurrently") from err
            raise StoreError(f"Writing {what} failed: {err}") from err

    @staticmethod
    def _revised(sk: str, upd: Update) -> Update:
        """Every write of a run item moves its ``rev``: ``maintenance.recount`` rewrites the
        counters only if no completion wrote them between its read and its write."""
        if sk != RUN_SK or "rev" in upd.add:
            return upd
        return replace(upd, add={**upd.add, "rev": 1})

    def _update(self, pk: str, sk: str, upd: Update, *, what: str, returns: str = "NONE") -> dict[str, Any] | None:
        upd = self._revised(sk, upd)
        try:
            resp = self.ddb.update_item(
                TableName=self.table, Key=self._key(pk, sk), ReturnValues=returns, **upd.params()
            )
        except ClientError as err:
            if d.is_conditional_failure(err):
                raise ConflictError(f"{what}: not in the expected state (another writer got there first)") from err
            raise StoreError(f"Updating {what} failed: {err}") from err
        return d.from_item(resp.get("Attributes"))

    def _delete(self, pk: str, sk: str, *, what: str = "item") -> None:
        try:
            self.ddb.delete_item(TableName=self.table, Key=self._key(pk, sk))
        except ClientError as err:
            raise StoreError(f"Deleting {what} failed: {err}") from err

    def _tx_update(self, pk: str, sk: str, upd: Update) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": self._key(pk, sk), **self._revised(sk, upd).params()}}

    def _tx_put(self, attrs: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": d.to_item(attrs)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _tx_check(self, pk: str, sk: str, condition: str, names: dict[str, str],
                  values: dict[str, Any]) -> dict[str, Any]:
        """A transaction item that writes nothing: the transaction happens only if ``condition`` holds."""
        check: dict[str, Any] = {"TableName": self.table, "Key": self._key(pk, sk), "ConditionExpression": condition,
                                 "ExpressionAttributeNames": names}
        if values:
            check["ExpressionAttributeValues"] = d.to_item(values)
        return {"ConditionCheck": check}

    def _tx_delete(self, pk: str, sk: str, condition: str | None = None) -> dict[str, Any]:
        delete: dict[str, Any] = {"TableName": self.table, "Key": self._key(pk, sk)}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}

    def _transact(self, items: list[dict[str, Any]], *, what: str) -> None:
        """TransactWriteItems, read item by item when DynamoDB cancels it.

        ``ConditionalCheckFailed`` on any item raises ConflictError with ``.reasons`` (one code
        per item, ``"None"`` for items that were fine): another writer got there first. A
        cancellation only for throttling or a conflicting transaction wrote nothing and is sent
        again with jittered exponential back-off; still cancelled after ``TRANSACT_ATTEMPTS``
        it raises ThrottledError, never ConflictError (a lost race and a busy item are not the
        same: taking one for the other left a finished task ``running``).
        """
        for attempt in range(TRANSACT_ATTEMPTS):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                return
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                reasons = d.cancellation_codes(err)
                if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                    exc = ConflictError(f"{what}: a condition failed ({', '.join(reasons)})")
                    exc.reasons = reasons  # type: ignore[attr-defined]
                    raise exc from err
                transient = (code == "TransactionCanceledException" and reasons
                             and all(r in TRANSIENT_REASONS or r == "None" for r in reasons)
                             and any(r in TRANSIENT_REASONS for r in reasons))
                if not transient:
                    raise StoreError(f"Transaction for {what} failed: {err}") from err
                if attempt == TRANSACT_ATTEMPTS - 1:
                    raise ThrottledError(f"Transaction for {what} was cancelled {TRANSACT_ATTEMPTS} times "
                                         f"({', '.join(reasons)}); nothing was written. The invocation fails "
                                         "and is retried.") from err
                self.sleep(random.uniform(0, min(2.0, 0.025 * 2 ** attempt)))

    def _query_index(self, pk: str, *, forward: bool = True, limit: int | None = None,
                     filter_: str | None = None, names: dict[str, str] | None = None,
                     vals: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield whole items of one partition of the index ``gsi1``, in index order.

        The index holds only the keys and ``state`` (``INDEX_ATTRIBUTES``): a write that changes
        neither (a run's counters, a DAG's run slots) does not write the index, whose partitions
        (one per DAG, one for every DAG's registry item) would otherwise take every such write
        of every run at once. The items are read back from the table, 100 keys a BatchGetItem.
        """
        keys: list[dict[str, Any]] = []
        for found in self._query(pk, index=d.GSI1, forward=forward, limit=limit, filter_=filter_,
                                 names=names, vals=vals):
            keys.append(found)
            if len(keys) == 100:
                yield from self._batch_get(keys)
                keys = []
        if keys:
            yield from self._batch_get(keys)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items with these keys (``pk``/``sk``), in the same order; missing ones left out."""
        pending = [self._key(str(k["pk"]), str(k["sk"])) for k in keys]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        attempt = 0
        while pending:
            resp = self.ddb.batch_get_item(RequestItems={self.table: {"Keys": pending, "ConsistentRead": True}})
            for raw in resp.get("Responses", {}).get(self.table, []):
                item = d.from_item(raw) or {}
                found[(str(item.get("pk")), str(item.get("sk")))] = item
            pending = resp.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            if pending:
                # DynamoDB returns what it could not read in time (throttling, 16 MB): ask again, backing off.
                attempt += 1
                time.sleep(min(1.0, 0.05 * 2 ** attempt))
        return [found[key] for key in ((str(k["pk"]), str(k["sk"])) for k in keys) if key in found]

    def _query(self, pk: str, *, prefix: str | None = None, index: str | None = None,
               forward: bool = True, limit: int | None = None, filter_: str | None = None,
               names: dict[str, str] | None = None, vals: dict[str, Any] | None = None,
               consistent: bool = True, attributes: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
        """Yield items of one partition (optionally a sort-key prefix), following pagination.

        ``attributes``: only these of each item (a ProjectionExpression), for a reader that needs
        a few fields of many items (the whole items are still read: the same read units).
        """
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        expr_names = {"#pk": pk_name, **(names or {})}
        expr_vals = {":pk": d.serialize(pk), **{k: d.serialize(v) for k, v in (vals or {}).items()}}
        cond = "#pk = :pk"
        if prefix:
            expr_names["#sk"] = sk_name
            expr_vals[":prefix"] = d.serialize(prefix)
            cond += " AND begins_with(#sk, :prefix)"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": cond,
            "ExpressionAttributeNames": expr_names,
            "ExpressionAttributeValues": expr_vals,
            "ScanIndexForward": forward,
        }
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = consistent
        if filter_:
            kwargs["FilterExpression"] = filter_
        if attributes:
            projected = {f"#p{i}": name for i, name in enumerate(attributes)}
            kwargs["ProjectionExpression"] = ", ".join(projected)
            expr_names.update(projected)
        yielded = 0
        while True:
            if limit is not None and not filter_:
                kwargs["Limit"] = max(1, limit - yielded)
            resp = self.ddb.query(**kwargs)
            for raw in resp.get("Items", []):
                yield d.from_item(raw)  # type: ignore[misc]
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last
