"""DAG params: the plan's ``ParamSpec`` form, default checks, and run-time resolution.

Values are checked with ``jsonschema`` (the draft the schema declares, 2020-12 otherwise),
as Airflow's ``Param`` does.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ParamValidationError
from orchestrator.plan.model import ParamSpec

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.params import Param


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


def spec_of(param: Param) -> ParamSpec:
    """The plan's form of one ``Param``."""
    try:
        schema = json.loads(schema_json(dict(param.schema)))
    except (TypeError, ValueError):
        schema = dict(param.schema)  # validate_dag reports it
    return ParamSpec(
        default=param.value if param.has_value else None,
        has_default=param.has_value,
        type=schema.get("type"),
        schema=schema,
        description=param.description,
    )


def param_specs(dag: DAG) -> dict[str, ParamSpec]:
    """``ParamSpec`` per param of ``dag``, in name order."""
    return {name: spec_of(dag.params[name]) for name in sorted(dag.params)}


def resolve_params(specs: dict[str, ParamSpec], conf: dict[str, Any] | None, *, dag_id: str) -> dict[str, Any]:
    """The params of a run: each default overridden by ``conf``, checked against its schema.

    Keys of ``conf`` that are not params are passed through (Airflow's behaviour).

    Raises:
        ParamValidationError: naming the DAG and the param, when a value is missing or invalid.
    """
    conf = dict(conf or {})
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, spec in specs.items():
        if name in conf:
            value, has_value = conf.pop(name), True
        else:
            value, has_value = spec.default, spec.has_default
        try:
            out[name] = check_value(value, spec.schema_, has_value=has_value, name=name, dag_id=dag_id)
        except ParamValidationError as exc:
            problems.append(str(exc))
    if problems:
        raise ParamValidationError("\n".join(problems))
    out.update(conf)
    return out
