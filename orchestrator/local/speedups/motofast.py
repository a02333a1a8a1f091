"""Make moto fast enough for 1,000-task runs (the embedded local cloud and tests only).

Every patch keeps moto's observable behaviour (the same results, the same errors for the
same requests) and only removes work moto repeats for nothing:

- transactions: moto backs up every table touched by a transaction with ``copy.deepcopy``
  before applying it, which makes each transaction O(table size) and a 1,000-way map
  O(n^2). The same loop runs (the same checks, writes, errors and order) but backs up only
  the items the transaction writes, just before each write, and puts exactly those back when
  the transaction is cancelled or a write raises a validation error: all or nothing, as in
  DynamoDB and in moto itself (``tests/functional/local/test_transaction_parity.py``);
- responses: moto 5.2 serialises every DynamoDB response through its shape-driven
  serializer (~50 ms for a run item); DynamoDB's wire format is the JSON moto already
  built, so successful responses are written with ``json.dumps`` instead;
- update expressions (most of a local task's time): the parse of an ``UpdateExpression``
  string is kept per string (moto only reads it; the validator's copy, which moto changes,
  is made only when moto's own walk needs it, by a copier that knows the tree's shape
  instead of ``copy.deepcopy``), the simple shapes the store writes skip the tree
  altogether (``speedups.motoupdate``), the tree walker finds each node type's processor once per walk instead
  of rebuilding the processor map at every node, and the two checks that rescan every
  subtree (one ADD/SET/REMOVE clause; no overlapping paths) look at the whole expression
  first: the clauses of any subtree are a subset of the whole's, so when the whole passes
  every subtree passes, and when it fails moto's own walk runs and raises what it raises;
  the placeholders a kept tree names (``find_clauses``) are listed once per tree;
- conditions: a ``ConditionExpression`` is parsed into a tree of comparison objects that
  hold the values it names and never change after parsing; the tree is kept per
  (expression, names, the values the expression names), with the placeholders it found;
  a tree naming a value of one call (an invocation id) is not parsed again: moto's tree
  before it becomes comparison objects is kept per (expression, names) and given this
  call's values at its value leaves (moto's steps up to there read no value), then turned
  into comparison objects by moto;
- dispatch: moto lists a response class's methods with ``inspect.getmembers`` on every
  request; the list is kept per class;
- backends: every lookup of a service's backend for an account (several per request) takes
  moto's backend lock and compares the service's backend table with every other one in use
  (moto lists the tables in use, for its reset); a table that already holds the account was
  listed when the account was added, and moto's reset forgets both at once, so that lookup
  returns at once;
- queries: a table ``Query`` (no index) starts from every item of the table, sorted by
  (hash key, range key) with moto's comparison objects, and keeps those of the queried hash
  key; it starts from that hash key's items, sorted by their range key's value (the order
  those objects give), instead. Nor are the results deep-copied before the response is built
  from them (into new dicts: nothing could change a stored item through them);
- projections: a ``ProjectionExpression`` of top-level names converted the whole item to plain
  JSON and back for every item returned (a progress poll's states of 1,000 task instances cost
  more than reading them whole); only the named attributes are converted, by moto's steps;
- updates: ``UpdateItem`` deep-copies the item before changing it, for the table's stream;
  on a table without one the copy is not made. moto measures the whole item again before
  each attribute an update sets (its 405,000-byte check); the simple updates of
  ``speedups.motoupdate`` make the same check from the item's size measured once;
- response ids: moto draws each response's 52-character request id one character at a
  time and searches the whole body for an XML ``<RequestId>`` to put it in, JSON bodies
  included; the id is drawn in one call from the same generator and alphabet, and only a
  body that has the tag is searched;
- stacks (``fast_stack_templates``, applied by ``local.stack`` only when it deploys through
  moto's CloudFormation): moto parses a stack's template with PyYAML's pure-Python loader even
  when it is JSON (the local cloud deploys JSON); JSON is read with ``json.loads`` (YAML is a
  superset of JSON: the same document).

``install()`` is idempotent and process-wide; ``orchestrator.local.speedups.install()`` calls it
after checking every patch target (never call it directly). Never used on AWS.
"""

from __future__ import annotations

import copy
import json
import re
import string
import threading
from typing import Any

from orchestrator.local.speedups import botofast, motoparams, motorequest, motoupdate

_FLAG = "_stratus_fast"
_EXPRESSION_CACHE_MAX = 2048


def transact_item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    """The key of one TransactWriteItems action (a Put names it inside its item; ``table`` only for a Put)."""
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def install() -> None:
    """Patch moto in this process (no-op for the parts already patched); also ``speedups.botofast``."""
    botofast.install()
    motorequest.install()
    motoparams.install()
    _fast_transactions()
    _fast_responses()
    _fast_update_expressions()
    _fast_conditions()
    _fast_dispatch()
    _fast_backend_lookups()
    _fast_queries()
    _fast_projections()
    _fast_update_copies()
    _fast_response_ids()


def _fast_transactions() -> None:
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MockValidationException
    from moto.dynamodb.exceptions import MultipleTransactionsException, TooManyTransactionsException
    from moto.dynamodb.exceptions import TransactionCanceledException, TransactWriteSingleOpException
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, _FLAG, False):
        return
    from moto.dynamodb.comparisons import get_filter_expression as filter_expr

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        # moto's own loop, step for step (the same checks, calls, errors and order), with one
        # difference: the rollback restores the items the transaction touched, saved before
        # each is written, instead of whole-table copies made up front. All or nothing, as
        # in DynamoDB: a cancelled transaction and a validation error both leave no write.
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        saved = _Touched()
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            original_item = None
            if len(list(item.keys())) > 1:
                saved.rollback()
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                cond = op.get("ConditionExpression")
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                table = self.get_table(table_name) if op_type == "Put" else None
                key = transact_item_key(table, op_type, op)
                ident = (str(table_name), str(dict(sorted(key.items()))))
                if ident in seen:
                    raise MultipleTransactionsException()
                seen.add(ident)
                current = self.get_item(table_name, key)
                if cond is not None:
                    if not filter_expr(cond, names, values).expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type != "ConditionCheck":
                    saved.save(self, table_name, key, copy_item=op_type == "Update")
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], condition_expression=cond,
                                  expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, condition_expression=cond,
                                     expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                     condition_expression=cond, expression_attribute_names=names,
                                     expression_attribute_values=values)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                saved.rollback()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - moto's own handling: the reason is reported
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            saved.rollback()
            raise TransactionCanceledException(errors)

    setattr(transact_write_items, _FLAG, True)
    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]  # moto's own, for the parity tests
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _Touched:
    """The items a transaction is about to write, as they were, to put back on rollback."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, Any, Any, Any, int | None]] = []

    def save(self, backend: Any, table_name: str, key: dict[str, Any], *, copy_item: bool) -> None:
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        item = table.get_item(hash_key, range_key)
        if item is not None and copy_item:
            item = copy.deepcopy(item)  # moto updates an item in place; a put or delete replaces it
        shard = table.stream_shard
        self._saved.append((table, hash_key, range_key, item, None if shard is None else len(shard.items)))

    def rollback(self) -> None:
        for table, hash_key, range_key, item, stream_len in reversed(self._saved):
            if range_key is not None:
                partition = table.items.get(hash_key)
                if item is not None:
                    table.items[hash_key][range_key] = item
                elif partition is not None:
                    partition.pop(range_key, None)
                    if not partition:
                        del table.items[hash_key]
            elif item is not None:
                table.items[hash_key] = item
            else:
                table.items.pop(hash_key, None)
            if stream_len is not None and table.stream_shard is not None:
                del table.stream_shard.items[stream_len:]
        self._saved.clear()


def _fast_responses() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.serialized
    if getattr(original, _FLAG, False):
        return

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict):
            try:
                body = json.dumps(result)
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    setattr(serialized, _FLAG, True)
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def _fast_update_expressions() -> None:
    from moto.dynamodb.parsing import ast_nodes, validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    if getattr(UpdateExpressionParser.make, _FLAG, False):
        return
    parse = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    parsed: dict[str, Any] = {}

    def make(cls: Any, expression_str: str) -> Any:
        if cls is not UpdateExpressionParser:
            return parse(cls, expression_str)
        tree = parsed.get(expression_str)
        if tree is None:
            tree = parse(cls, expression_str)  # a syntax error raises here, as before, and is not kept
            # moto only reads the parsed tree (placeholder lists; the validator works on its own
            # copy, below), so one tree per expression serves every request.
            tree._stratus_parsed = expression_str
            if len(parsed) >= _EXPRESSION_CACHE_MAX:
                parsed.clear()
            parsed[expression_str] = tree
        return tree

    setattr(make, _FLAG, True)
    UpdateExpressionParser.make = classmethod(make)  # type: ignore[assignment,method-assign]

    node_type = ast_nodes.Node  # type: ignore[attr-defined]

    def tree_copy(value: Any, memo: Any = None) -> Any:
        if memo is None and isinstance(value, node_type):
            source = value.__dict__.get("_stratus_parsed")
            if source is not None:  # a tree as parsed: the copy is made only if moto needs one
                return _Deferred(source, value, node_type)
        return copy.deepcopy(value, memo)

    validators.deepcopy = tree_copy  # type: ignore[attr-defined,assignment]
    motoupdate.install(lambda node: node.tree() if isinstance(node, _Deferred) else node)
    _fast_walker(ast_nodes)
    _kept_clauses(node_type)
    for cls, check in ((validators.ActionCountValidator, "verify_action_counts"),
                       (validators.OverlappingPathsValidator, "check_for_overlapping_paths")):
        _whole_expression_first(cls, check, ast_nodes.UpdateExpression)  # type: ignore[attr-defined]


class _Deferred:
    """The validator's copy of a parsed update expression, made when moto's own walk needs it."""

    def __init__(self, source: str, parsed: Any, node_type: type) -> None:
        self.stratus_source = source
        self._parsed = parsed
        self._node_type = node_type

    def tree(self) -> Any:
        return _copy_tree(self._parsed, None, self._node_type)


_ATOMS = (str, int, float, bool, type(None))


def _copy_tree(node: Any, parent: Any, node_type: type) -> Any:
    """What ``copy.deepcopy`` makes of a parsed tree (nodes hold ``type``, ``children``, ``parent``)."""
    kind: Any = type(node)
    new = kind.__new__(kind)
    state = dict(node.__dict__)
    state.pop("_stratus_parsed", None)
    state.pop("_stratus_clauses", None)
    if node.children is not None:
        state["children"] = [
            _copy_tree(child, new, node_type) if isinstance(child, node_type)
            else child if isinstance(child, _ATOMS) else copy.deepcopy(child)
            for child in node.children
        ]
    state["parent"] = parent
    new.__dict__.update(state)
    return new


def _fast_walker(ast_nodes: Any) -> None:
    """``DepthFirstTraverser.traverse_node_recursively`` with the processor map built once per walker."""
    base = ast_nodes.DepthFirstTraverser
    original = base.traverse_node_recursively
    base_process, base_types, base_pre = base.process, base.nodes_to_be_processed, base.pre_processing_of_child
    node_type = ast_nodes.Node
    is_node: dict[type, bool] = {}

    def handler(table: tuple[list[tuple[type, Any]], dict[type, Any]], kind: type) -> Any:
        ordered, found = table
        try:
            return found[kind]
        except KeyError:
            # The first class of the map the node is an instance of, as ``process`` picks it.
            fn = next((f for cls, f in ordered if issubclass(kind, cls)), None)
            found[kind] = fn
            return fn

    def walk(self: Any, node: Any, child_id: int, table: Any, pre: bool) -> Any:
        kind = type(node)
        known = is_node.get(kind)
        if known is None:
            known = is_node[kind] = isinstance(node, node_type)
        if not known:
            return node
        parent = node.parent
        if node.children is not None:
            for i, child in enumerate(node.children):
                if pre:
                    self.pre_processing_of_child(node, i)
                walk(self, child, i, table, pre)
        fn = handler(table, kind)
        if fn is not None:
            node = fn(node)
            node.parent = parent
            if parent:
                parent.children[child_id] = node
        return node

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        cls = type(self)
        if cls.process is not base_process or cls.nodes_to_be_processed is not base_types:
            return original(self, node, child_id)  # a walker that picks processors its own way
        table = self.__dict__.get("_stratus_processors")
        if table is None:
            table = self.__dict__["_stratus_processors"] = (list(self._processing_map().items()), {})
        return walk(self, node, child_id, table, cls.pre_processing_of_child is not base_pre)

    setattr(traverse_node_recursively, _FLAG, True)
    base.traverse_node_recursively = traverse_node_recursively


def _kept_clauses(node_type: Any) -> None:
    """``Node.find_clauses`` answered once per kept tree and clause types (moto asks on every request)."""
    original = node_type.find_clauses
    if getattr(original, _FLAG, False):
        return

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        state = self.__dict__
        if "_stratus_parsed" not in state:  # not a kept tree: it may change, ask it
            return original(self, clause_types)  # type: ignore[no-any-return]
        kept = state.setdefault("_stratus_clauses", {})
        key = tuple(clause_types)
        found = kept.get(key)
        if found is None:
            found = kept[key] = original(self, clause_types)
        return list(found)

    setattr(find_clauses, _FLAG, True)
    node_type.find_clauses = find_clauses


def _whole_expression_first(cls: Any, check: str, expression_type: type) -> None:
    original = cls.traverse

    def traverse(self: Any, node: Any) -> Any:
        if isinstance(node, expression_type):
            try:
                getattr(self, check)(node)
            except Exception:  # noqa: BLE001 - moto's own walk raises the error it raises
                return original(self, node)
            return node
        return original(self, node)

    cls.traverse = traverse


def _fast_dispatch() -> None:
    import moto.core.responses as responses

    listed = responses.method_names_from_class
    if getattr(listed, _FLAG, False):
        return
    known: dict[Any, frozenset[str]] = {}

    def method_names_from_class(clazz: Any) -> frozenset[str]:
        names = known.get(clazz)
        if names is None:
            names = known[clazz] = frozenset(listed(clazz))
        return names

    setattr(method_names_from_class, _FLAG, True)
    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")


def _fast_conditions() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    if getattr(original, _FLAG, False):
        return
    parsed: dict[tuple[str, Any, str], tuple[Any, list[str], list[str]]] = {}

    placeholders: dict[str, tuple[str, ...]] = {}

    def key_of(parser: Any) -> tuple[str, Any, str] | None:
        # Equal keys mean equal expressions, names and named values (a ``repr`` of the plain
        # JSON values DynamoDB's parameters are; the same values in another key order only
        # miss the cache).
        expr = parser.condition_expression
        if not expr:
            return None
        named = placeholders.get(expr)
        if named is None:
            if len(placeholders) >= _EXPRESSION_CACHE_MAX:
                placeholders.clear()
            named = placeholders[expr] = tuple(sorted(set(_PLACEHOLDER.findall(expr))))
        values = parser.expression_attribute_values or {}
        names = parser.expression_attribute_names
        try:
            names_key = tuple(names.items()) if names else ()
            hash(names_key)
        except (AttributeError, TypeError):
            return None
        return (expr, names_key, repr([(p, values.get(p)) for p in named]))

    trees: dict[tuple[str, Any], tuple[Any, list[str], list[str]]] = {}
    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE

    def parse(self: Any) -> Any:
        key = key_of(self)
        if key is None:
            return original(self)
        hit = parsed.get(key)
        if hit is not None:
            op, names_found, values_found = hit
            self.expr_attr_names_found.extend(names_found)
            self.expr_attr_values_found.extend(values_found)
            return op
        values = self.expression_attribute_values or {}
        shape = trees.get(key[:2])
        if shape is not None and all(text in values for text in shape[2]):
            # The same expression and names with other values: moto's tree for them is the
            # kept one with each value leaf holding this call's value (no step before the
            # leaves become operands reads a value).
            node = _with_values(shape[0], values, value_kind)
            names_found, values_found = shape[1], shape[2]
        else:
            node = _condition_tree(self)  # an invalid expression raises here, as before, and is not kept
            names_found, values_found = self._find_literals(node), self._find_expr_attr_values(node)
            if len(trees) >= _EXPRESSION_CACHE_MAX:
                trees.clear()
            trees[key[:2]] = (node, names_found, values_found)
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        op = self._make_op_condition(node)
        if len(parsed) >= _EXPRESSION_CACHE_MAX:
            parsed.clear()
        parsed[key] = (op, names_found, values_found)
        return op

    setattr(parse, _FLAG, True)
    parse.__wrapped__ = original  # type: ignore[attr-defined]  # moto's own, for the tests
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def _condition_tree(parser: Any) -> Any:
    """moto's ``ConditionExpressionParser.parse`` up to the tree it turns into comparison objects,
    step for step (moto 5.2)."""
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node


def _with_values(node: Any, values: dict[str, Any], value_kind: str) -> Any:
    """``node`` (a condition tree) with each value leaf holding ``values[its placeholder]``."""
    if node.kind == value_kind:
        return node._replace(value=values[node.text])
    if not node.children:
        return node
    return node._replace(children=[_with_values(child, values, value_kind) for child in node.children])


def _fast_backend_lookups() -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict._create_account_specific_backend
    if getattr(original, _FLAG, False):
        return

    def create_account_specific_backend(self: Any, account_id: str) -> None:
        if dict.__contains__(self, account_id):
            return  # created, and the table listed, earlier: moto's reset clears both together
        original(self, account_id)

    setattr(create_account_specific_backend, _FLAG, True)
    BackendDict._create_account_specific_backend = create_account_specific_backend  # type: ignore[method-assign]


class _Partition:
    """A table as ``Table.query`` sees it, whose ``all_items`` are one hash key's items in range key order."""

    def __init__(self, table: Any, hash_key: Any) -> None:
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Any]:
        items = self._table.items.get(self._hash_key) or {}
        return sorted(items.values(), key=lambda item: item.range_key.cast_value)


class _CopySkipped:
    """``copy`` as one moto module sees it, where one deep copy is known to be needless: while
    this thread's ``_SKIP.copy`` names the module (set by the speed-up that wraps the method
    making that copy), the module's next ``copy.deepcopy`` returns its argument and clears the mark. Every other use of
    ``copy`` in that module (backups, restores) is moto's own.

    - ``Table.query`` deep-copies the items it found before projecting and filtering them,
      neither of which changes an item (each makes new ones); the response is built from them
      into new dicts (``dynamo_to_dict``) under the local cloud's moto lock;
    - ``DynamoDBBackend.update_item`` deep-copies the item before updating it, for the table's
      stream only (``stream_shard.add(old, new)``): on a table without a stream the copy is
      never read.
    """

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if memo is None and getattr(_SKIP, "copy", None) == self.module:
            _SKIP.copy = None
            return value
        return copy.deepcopy(value, memo)


_SKIP = threading.local()


def _fast_update_copies() -> None:
    from moto.dynamodb import models

    original = models.DynamoDBBackend.update_item
    if getattr(original, _FLAG, False):
        return

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        streamless = getattr(self.tables.get(table_name), "stream_shard", True) is None
        _SKIP.copy = models.__name__ if streamless else None
        try:
            return original(self, table_name, *args, **kwargs)
        finally:
            _SKIP.copy = None

    setattr(update_item, _FLAG, True)
    update_item.__wrapped__ = original  # type: ignore[attr-defined]
    models.DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    models.copy = _CopySkipped(models.__name__)  # type: ignore[assignment]


def _fast_projections() -> None:
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import Item

    original = Item.project
    if getattr(original, _FLAG, False):
        return

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        # moto's steps (each attribute deserialised, the named keys found, merged, serialised
        # back) over the attributes the expressions name, not the whole item: every attribute
        # is converted on its own, so the others never change the outcome. Only for top-level
        # names; a path or a list index goes through moto's own.
        names = [expr[0] for expr in projection_expressions if len(expr) == 1 and "[" not in expr[0]]
        if len(names) != len(projection_expressions):
            return original(self, projection_expressions)
        attrs = self.attrs
        regular = {name: dynamo_type.deserializer.deserialize(attrs[name].to_regular_json())
                   for name in names if name in attrs}
        result: dict[str, Any] = {}
        for expr in projection_expressions:
            dynamo_type.merge_dicts(result, dynamo_type.find_nested_key(expr, regular))
        return Item(hash_key=self.hash_key, range_key=self.range_key,
                    attrs=dynamo_type.serializer.serialize(result)["M"])

    setattr(project, _FLAG, True)
    project.__wrapped__ = original  # type: ignore[attr-defined]
    Item.project = project  # type: ignore[method-assign]


def _fast_queries() -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, _FLAG, False):
        return

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        _SKIP.copy = table_module.__name__
        try:
            if index_name or hash_key is None or not self.range_key_attr:
                return original(self, hash_key, *args, **kwargs)
            return original(_Partition(self, hash_key), hash_key, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            _SKIP.copy = None

    table_module.copy = _CopySkipped(table_module.__name__)  # type: ignore[assignment]

    setattr(query, _FLAG, True)
    query.__wrapped__ = original  # type: ignore[attr-defined]  # moto's own, for tests comparing the two
    Table.query = query  # type: ignore[method-assign]


_REQUEST_ID_CHARS = string.ascii_letters + string.digits  # moto's get_random_string alphabet
_REQUEST_ID_TAG = re.compile(r"(?<=<RequestId>).*(?=<\/RequestId>)")  # moto's pattern


def _fast_response_ids() -> None:
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import mock_random

    original = BaseResponse.__dict__["_enrich_response"]
    if getattr(original.__func__, _FLAG, False):
        return

    def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if "status" in headers:
            headers["status"] = str(headers["status"])
        request_id = "".join(mock_random.choices(_REQUEST_ID_CHARS, k=52))
        if isinstance(headers, dict):
            headers["x-amzn-requestid"] = request_id
        if isinstance(body, str) and "<RequestId>" in body:
            body = _REQUEST_ID_TAG.sub(request_id, body)
        return headers, body

    setattr(enrich_response, _FLAG, True)
    BaseResponse._enrich_response = staticmethod(enrich_response)  # type: ignore[method-assign,assignment]


def fast_stack_templates() -> None:
    """Stacks' JSON templates read with ``json.loads`` (called by ``local.stack`` before it deploys,
    so that moto's CloudFormation is imported only by a deploy that needs it)."""
    from moto.cloudformation.models import Stack

    original = Stack.parse_template
    if getattr(original, _FLAG, False):
        return

    def parse_template(template: str) -> dict[str, Any]:
        if isinstance(template, str) and template.lstrip().startswith("{"):
            try:
                parsed = json.loads(template)
            except ValueError:
                return original(template)  # type: ignore[no-any-return]
            if isinstance(parsed, dict):
                return parsed
        return original(template)  # type: ignore[no-any-return]

    setattr(parse_template, _FLAG, True)
    Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign,assignment]
