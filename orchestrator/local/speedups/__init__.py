"""moto and botocore made fast for the local cloud, guarded so that they can never change an answer.

The speed-ups (``motofast``, ``motorequest``, ``motoparams``, ``motoupdate``, ``botofast``,
``botovalidate``, ``botoparse``, ``botoserialize``) replace methods inside moto and botocore.
They are written against one moto: ``TESTED_MOTO`` is the range ``pyproject.toml`` pins and the
range the suite ran them on. ``install()`` is the only door:

- ``STRATUS_MOTO_FAST=0`` in the environment: nothing is patched (plain moto and botocore);
- otherwise every patch target is checked first (it exists, and is callable with the
  parameters the speed-up was written for) and the installed moto must be in
  ``TESTED_MOTO``. When any check fails nothing is patched and one warning line says why:
  the local cloud runs on plain moto, slower and with the same answers, never a crash;
- a patch that fails while being applied (it should not, after the checks) is undone with
  every other one: all or nothing.

Local cloud and tests only; never imported on AWS.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)

ENV_FAST = "STRATUS_MOTO_FAST"
TESTED_MOTO = ((5, 2, 5), (5, 2, 6))  # lowest tested, first untested (pyproject: moto==5.2.5)

# (module, attribute path, the parameters the speed-up relies on; None: only that it exists).
# Everything a speed-up replaces, wraps or calls inside moto/botocore is listed here.
TARGETS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("botocore.loaders", "Loader.load_service_model", None),
    ("botocore.loaders", "Loader.load_data_with_path", None),
    ("botocore.loaders", "Loader.list_available_services", None),
    ("botocore.loaders", "Loader.determine_latest_version", None),
    ("botocore.loaders", "Loader.list_api_versions", None),
    ("botocore.useragent", "UserAgentString.to_string", ("self",)),
    ("botocore.hooks", "EventAliaser._alias_event_name", ("self", "event_name")),
    ("botocore.hooks", "EVENT_ALIASES", None),
    ("botocore.validate", "ParamValidator.validate", ("self", "params", "shape")),
    ("botocore.validate", "ParamValidator.SCALAR_TYPES", None),
    ("botocore.validate", "ParamValidator.CONTAINER_TYPES", None),
    ("botocore.validate", "ValidationErrors", None),
    ("botocore.utils", "is_json_value_header", ("shape",)),
    ("botocore.parsers", "JSONParser._handle_json_body", ("self", "raw_body", "shape")),
    ("botocore.parsers", "JSONParser._parse_body_as_json", ("self", "body_contents")),
    ("botocore.parsers", "ResponseParser._parse_shape", ("self", "shape", "node")),
    ("botocore.serialize", "JSONSerializer._serialize", ("self", "serialized", "value", "shape", "key")),
    ("botocore.serialize", "JSONSerializer._convert_timestamp_to_str", ("self", "value", "timestamp_format")),
    ("botocore.serialize", "JSONSerializer._get_base64", ("self", "value")),
    ("botocore.serialize", "JSONSerializer._handle_float", ("self", "value")),
    ("botocore.useragent", "get_context", ()),
    ("botocore.auth", "SigV4Auth.add_auth", ("self", "request")),
    ("botocore.auth", "SigV4Auth._modify_request_before_signing", ("self", "request")),
    ("botocore.auth", "SigV4Auth.scope", ("self", "request")),
    ("botocore.auth", "get_current_datetime", None),
    ("botocore.auth", "SIGV4_TIMESTAMP", None),
    ("moto.core.botocore_stubber", "BotocoreStubber.process_request", ("self", "request")),
    ("werkzeug.routing.rules", "Rule._compile_builder", ("self", "append_unknown")),
    ("werkzeug.routing.rules", "Rule.compile", ("self",)),
    ("moto.core.request", "normalize_request", ("request",)),
    ("moto.core.utils", "get_equivalent_url_in_aws_domain", ("url",)),
    ("moto.core.config", "default_user_config", None),
    ("moto.core.models", "botocore_stubber", None),
    ("moto.moto_api", "recorder", None),
    ("moto.moto_api._internal", "mock_random", None),
    ("moto.backend_index", "backend_url_patterns", None),
    ("moto.settings", "INITIAL_NO_AUTH_ACTION_COUNT", None),
    ("moto.dynamodb.responses", "DynamoHandler.dispatch", None),
    ("moto.awslambda.responses", "LambdaResponse.dispatch", None),
    ("moto.dynamodb.responses", "DynamoHandler.serialized", ("self", "action_result")),
    ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items", ("self", "transact_items")),
    ("moto.dynamodb.models", "DynamoDBBackend.put_item",
     ("self", "table_name", "item_attrs", "expected", "condition_expression", "expression_attribute_names",
      "expression_attribute_values")),
    ("moto.dynamodb.models", "DynamoDBBackend.update_item",
     ("self", "table_name", "key", "update_expression", "expression_attribute_names", "expression_attribute_values")),
    ("moto.dynamodb.models", "DynamoDBBackend.delete_item",
     ("self", "table_name", "key", "expression_attribute_names", "expression_attribute_values",
      "condition_expression")),
    ("moto.dynamodb.models", "DynamoDBBackend.get_item", ("self", "table_name", "keys")),
    ("moto.dynamodb.models", "DynamoDBBackend.get_table", None),
    ("moto.dynamodb.models", "DynamoDBBackend.get_keys_value", ("self", "table", "keys")),
    ("moto.dynamodb.exceptions", "TransactionCanceledException", None),
    ("moto.dynamodb.exceptions", "MultipleTransactionsException", None),
    ("moto.dynamodb.exceptions", "TooManyTransactionsException", None),
    ("moto.dynamodb.exceptions", "TransactWriteSingleOpException", None),
    ("moto.dynamodb.exceptions", "ConditionalCheckFailed", None),
    ("moto.dynamodb.exceptions", "MockValidationException", None),
    ("moto.dynamodb.parsing.expressions", "UpdateExpressionParser.make", ("expression_str",)),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser.traverse_node_recursively",
     ("self", "node", "child_id")),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser.process", None),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser.nodes_to_be_processed", None),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser.pre_processing_of_child", None),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser._processing_map", None),
    ("moto.dynamodb.parsing.ast_nodes", "Node.find_clauses", ("self", "clause_types")),
    ("moto.dynamodb.parsing.ast_nodes", "UpdateExpression", None),
    ("moto.dynamodb.parsing.validators", "deepcopy", None),
    ("moto.dynamodb.parsing.validators", "ActionCountValidator.verify_action_counts", ("self", "node")),
    ("moto.dynamodb.parsing.validators", "OverlappingPathsValidator.check_for_overlapping_paths", ("self", "node")),
    ("moto.dynamodb.parsing.validators", "UpdateExpressionValidator.validate", ("self",)),
    ("moto.dynamodb.parsing.executors", "UpdateExpressionExecutor.execute", ("self", "node")),
    ("moto.core.responses", "method_names_from_class", ("clazz",)),
    ("moto.core.responses", "BaseResponse._enrich_response", ("headers", "body")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser.parse", ("self",)),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._lex_condition_expression", ("self",)),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._parse_paths", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._apply_functions", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._apply_comparator", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._apply_in", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._apply_between", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._apply_parens_and_booleans", ("self", "nodes")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._assert_no_redundant_parentheses", ("self", "node")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._find_literals", ("parent",)),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._find_expr_attr_values", ("parent",)),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser._make_op_condition", ("self", "node")),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE", None),
    ("moto.core.responses", "BaseResponse.parse_parameters", ("self", "request")),
    ("moto.core.responses", "BaseResponse._get_action", ("self",)),
    ("moto.core.responses", "get_service_model", ("service_name",)),
    ("moto.dynamodb.comparisons", "get_filter_expression", ("expr", "names", "values")),
    ("moto.core.base_backend", "BackendDict._create_account_specific_backend", ("self", "account_id")),
    ("moto.dynamodb.models.table", "Table.query",
     ("self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward",
      "projection_expressions", "index_name")),
    ("moto.dynamodb.models", "DynamoDBBackend.update_item", ("self", "table_name")),
    ("moto.dynamodb.models.dynamo_type", "LimitedSizeDict.__setitem__", ("self", "key", "value")),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.size", ("self",)),
    ("moto.dynamodb.models.dynamo_type", "Item.project", ("self", "projection_expressions")),
    ("moto.dynamodb.models.dynamo_type", "Item.to_regular_json", ("self",)),
    ("moto.dynamodb.models.dynamo_type", "find_nested_key", ("keys", "dct", "processed_keys", "result")),
    ("moto.dynamodb.models.dynamo_type", "merge_dicts", None),
    ("moto.dynamodb.models.dynamo_type", "serializer", None),
    ("moto.dynamodb.models.dynamo_type", "deserializer", None),
    ("moto.dynamodb.models.utilities", "bytesize", ("val",)),
)

# Methods the speed-ups replace: saved before installing, put back if installing fails half-way.
_REPLACED: tuple[tuple[str, str], ...] = (
    ("botocore.loaders", "Loader.load_service_model"),
    ("botocore.loaders", "Loader.load_data_with_path"),
    ("botocore.loaders", "Loader.list_available_services"),
    ("botocore.loaders", "Loader.determine_latest_version"),
    ("botocore.loaders", "Loader.list_api_versions"),
    ("botocore.useragent", "UserAgentString.to_string"),
    ("botocore.hooks", "EventAliaser._alias_event_name"),
    ("botocore.validate", "ParamValidator.validate"),
    ("botocore.parsers", "JSONParser._handle_json_body"),
    ("botocore.serialize", "JSONSerializer._serialize"),
    ("botocore.auth", "SigV4Auth.add_auth"),
    ("moto.core.botocore_stubber", "BotocoreStubber.process_request"),
    ("werkzeug.routing.rules", "Rule._compile_builder"),
    ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items"),
    ("moto.dynamodb.responses", "DynamoHandler.serialized"),
    ("moto.dynamodb.parsing.expressions", "UpdateExpressionParser.make"),
    ("moto.dynamodb.parsing.validators", "deepcopy"),
    ("moto.dynamodb.parsing.validators", "UpdateExpressionValidator.validate"),
    ("moto.dynamodb.parsing.validators", "ActionCountValidator.traverse"),
    ("moto.dynamodb.parsing.validators", "OverlappingPathsValidator.traverse"),
    ("moto.dynamodb.parsing.executors", "UpdateExpressionExecutor.execute"),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser.traverse_node_recursively"),
    ("moto.dynamodb.parsing.ast_nodes", "Node.find_clauses"),
    ("moto.core.responses", "method_names_from_class"),
    ("moto.dynamodb.comparisons", "ConditionExpressionParser.parse"),
    ("moto.dynamodb.responses", "DynamoHandler.parse_parameters"),
    ("moto.core.base_backend", "BackendDict._create_account_specific_backend"),
    ("moto.dynamodb.models.table", "Table.query"),
    ("moto.dynamodb.models.table", "copy"),
    ("moto.dynamodb.models", "copy"),
    ("moto.dynamodb.models", "DynamoDBBackend.update_item"),
    ("moto.core.responses", "BaseResponse._enrich_response"),
    ("moto.dynamodb.models.dynamo_type", "DynamoType.size"),
    ("moto.dynamodb.models.dynamo_type", "Item.project"),
)

_state: dict[str, Any] = {"installed": False, "reason": None}


def enabled_by_env() -> bool:
    """False when ``STRATUS_MOTO_FAST=0`` (or ``false``/``no``/``off``) asks for plain moto."""
    return os.environ.get(ENV_FAST, "1").strip().lower() not in ("0", "false", "no", "off")


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _resolve(module: str, path: str) -> Any:
    obj: Any = importlib.import_module(module)
    for name in path.split("."):
        owner = obj
        obj = inspect.getattr_static(owner, name) if isinstance(owner, type) else getattr(owner, name)
        if isinstance(obj, staticmethod):
            obj = obj.__func__
        elif isinstance(obj, classmethod):
            obj = getattr(owner, name)  # bound: its signature without ``cls``
    return obj


def check(version: str | None = None) -> str | None:
    """Why the speed-ups cannot be installed on this moto, or None when every check passes."""
    try:
        version = version or moto_version()
    except Exception as exc:  # noqa: BLE001 - any failure means: plain moto
        return f"moto's version is unknown ({exc})"
    low, high = TESTED_MOTO
    if not (low <= _version_tuple(version) < high):
        return (f"moto {version} is outside the tested range "
                f"{'.'.join(map(str, low))} to below {'.'.join(map(str, high))}")
    for module, path, params in TARGETS:
        try:
            target = _resolve(module, path)
        except Exception as exc:  # noqa: BLE001 - ModuleNotFoundError, AttributeError, ...
            return f"{module}.{path} is missing ({type(exc).__name__}: {exc})"
        if params is None:
            continue
        original = getattr(target, "__wrapped__", None) if getattr(target, "_stratus_fast", False) else None
        try:
            names = tuple(inspect.signature(original or target).parameters)
        except (TypeError, ValueError) as exc:
            return f"{module}.{path} cannot be inspected ({exc})"
        if names[: len(params)] != params:
            return f"{module}.{path} takes {names}, the speed-up expects {params}"
    return None


def install() -> bool:
    """Install every speed-up in this process, or none; returns whether they are installed.

    Idempotent. With ``STRATUS_MOTO_FAST=0``, or when ``check()`` fails (one warning line on
    stderr says why), moto and botocore stay as shipped.
    """
    if _state["installed"]:
        return True
    if not enabled_by_env():
        _state["reason"] = f"{ENV_FAST}=0"
        return False
    reason = check()
    if reason is None:
        saved = _save()
        try:
            from orchestrator.local.speedups import motofast

            motofast.install()
        except Exception as exc:  # noqa: BLE001 - never a crash: plain moto instead
            _restore(saved)
            reason = f"installing failed ({type(exc).__name__}: {exc})"
    if reason is not None:
        if _state["reason"] != reason:
            print(f"stratus: local cloud on plain moto (speed-ups off, same answers, slower): {reason}",
                  file=sys.stderr)
        _state["reason"] = reason
        return False
    _state["installed"] = True
    _state["reason"] = None
    return True


def stack_templates() -> None:
    """moto's CloudFormation reads JSON templates with ``json.loads`` (``motofast.fast_stack_templates``).

    Separate from ``install()`` so that moto's CloudFormation models (and the services they
    import) are loaded only by a deploy that goes through them. No-op unless installed.
    """
    if not _state["installed"]:
        return
    try:
        target = _resolve("moto.cloudformation.models", "Stack.parse_template")
        if getattr(target, "_stratus_fast", False):
            return
        if tuple(inspect.signature(target).parameters)[:1] != ("template",):
            return
        from orchestrator.local.speedups import motofast

        motofast.fast_stack_templates()
    except Exception as exc:  # noqa: BLE001 - plain moto's parse instead
        log.debug("stack template speed-up not applied: %s", exc)


def installed() -> bool:
    """Whether ``install()`` put the speed-ups in place in this process."""
    return bool(_state["installed"])


def _save() -> list[tuple[Any, str, Any]]:
    saved = []
    for module, path in _REPLACED:
        owner_path, _, name = path.rpartition(".")
        owner: Any = importlib.import_module(module)
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part)
        saved.append((owner, name, owner.__dict__.get(name, _ABSENT) if isinstance(owner, type)
                      else getattr(owner, name, _ABSENT)))
    return saved


def _restore(saved: list[tuple[Any, str, Any]]) -> None:
    for owner, name, value in reversed(saved):
        if value is _ABSENT:
            if isinstance(owner, type) and name in owner.__dict__:
                delattr(owner, name)
        else:
            setattr(owner, name, value)


_ABSENT = object()
