"""Checking a value against a ``Param``'s JSON schema (``jsonschema``, the draft the schema
declares, 2020-12 otherwise, as Airflow's ``Param`` does). Pure; used by ``Param.resolve`` and
by the plan's params (``plan.params``).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from orchestrator.errors import ParamValidationError


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    from jsonschema import FormatChecker, validators

    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    return cls(schema, format_checker=FormatChecker())


def schema_json(schema: dict[str, Any]) -> str:
    """``schema`` as canonical JSON text. Keys become strings first, as JSON makes them (Airflow's
    ``values_display={1: "one", None: "none"}`` mixes int and None keys, which cannot be sorted)."""
    return json.dumps(json.loads(json.dumps(schema)), sort_keys=True)


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON schema, or None."""
    from jsonschema import exceptions, validators

    try:
        text = schema_json(schema)
    except (TypeError, ValueError):
        return f"the schema {schema!r} is not JSON"
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(json.loads(text))
    except exceptions.SchemaError as exc:
        return f"the schema is invalid: {exc.message}"
    return None


def value_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not match ``schema`` (first error), or None when it does."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return f"{value!r} is not JSON-serialisable (params travel as JSON)"
    if not schema:
        return None
    validator = _validator(schema_json(schema))
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.path))), None)
    return None if error is None else error.message


def check_value(value: Any, schema: dict[str, Any], *, has_value: bool, name: str, dag_id: str) -> Any:
    """Return ``value`` when it satisfies ``schema``; raise ``ParamValidationError`` otherwise."""
    if not has_value:
        raise ParamValidationError(
            f"Param '{name}' of DAG '{dag_id}' has no default and the run's conf does not set it: "
            f"trigger with conf {{\"{name}\": ...}}."
        )
    problem = value_problem(value, schema)
    if problem:
        raise ParamValidationError(f"Param '{name}' of DAG '{dag_id}': {problem}. Pass a value that matches its schema.")
    return value
