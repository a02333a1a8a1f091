"""DAG params: the plan's ``ParamSpec`` form, default checks, and run-time resolution.

Values are checked with ``jsonschema`` (the draft the schema declares, 2020-12 otherwise),
as Airflow's ``Param`` does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.param_schema import check_value, schema_json, schema_problem, value_problem
from orchestrator.errors import ParamValidationError
from orchestrator.plan.model import ParamSpec

__all__ = ["check_value", "schema_json", "schema_problem", "value_problem", "spec_of", "param_specs", "resolve_params"]

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.params import Param


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
