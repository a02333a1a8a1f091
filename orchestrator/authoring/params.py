"""``Param``: a DAG parameter with a default and a JSON-schema (type, enum, minimum, ...).

Validation (``jsonschema``) happens in ``orchestrator.plan.params``: defaults when the DAG
is validated, run conf when a run is triggered.
"""

from __future__ import annotations

from typing import Any


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False


NOTSET: Any = _NotSet()


class Param:
    """A DAG parameter, as Airflow's ``Param``.

    Parameters:
        default: the value when the run's conf does not set it (omit to require it).
        description: shown in the UI.
        **schema: JSON-schema keywords: ``type`` ("string", "integer", "number", "boolean",
            "array", "object", "null" or a list of them), ``enum``, ``minimum``,
            ``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``format``, ``items``, ...
    Example::

        params={"limit": Param(100, type="integer", minimum=1, maximum=10_000)}
    """

    __slots__ = ("value", "description", "schema")

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    @property
    def has_value(self) -> bool:
        return self.value is not NOTSET

    def resolve(self, value: Any = NOTSET, *, name: str = "param", dag_id: str = "?") -> Any:
        """``value`` (or the default) checked against the schema; raises ``ParamValidationError``."""
        from orchestrator.authoring.param_schema import check_value

        chosen = self.value if value is NOTSET else value
        return check_value(chosen, self.schema, has_value=chosen is not NOTSET, name=name, dag_id=dag_id)

    def dump(self) -> dict[str, Any]:
        return {"value": None if not self.has_value else self.value, "description": self.description,
                "schema": self.schema}

    def __repr__(self) -> str:
        return f"Param({self.value!r}, {self.schema!r})"


class DagParam:
    """A reference to a DAG param, resolved from the run's ``params`` when the task runs.

    ``@dag`` passes one for each argument of the decorated function (its default becomes the
    param's default), so ``def etl(limit: int = 100): extract(limit)`` lets a run's conf
    override ``limit``, as in Airflow. Only resolved inside templated fields/TaskFlow arguments.
    """

    _is_dag_param = True
    __slots__ = ("name", "default")

    def __init__(self, name: str, default: Any = NOTSET) -> None:
        self.name = name
        self.default = default

    def resolve(self, context: dict[str, Any]) -> Any:
        params = context.get("params") or {}
        if self.name in params:
            return params[self.name]
        if self.default is not NOTSET:
            return self.default
        from orchestrator.errors import ParamValidationError

        raise ParamValidationError(f"Param '{self.name}' has no value in this run: pass it in the run's conf.")

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"
