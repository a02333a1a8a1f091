"""What a run's conf may hold beyond the door's checks (``orchestrator.engine.start``): numbers
DynamoDB can store, and JSON text read strictly.

The door checks the conf is a JSON object, its size and its depth. DynamoDB also refuses
numbers of more than 38 significant digits (moto stores them); JSON text with ``NaN``,
``Infinity`` or ``1e400`` (a float that overflows) is not JSON, and text nested thousands of
levels must be refused, not a ``RecursionError``. Both walks are iterative.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from orchestrator.errors import ParamValidationError

MAX_NUMBER_DIGITS = 38  # DynamoDB Number precision


def _number_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a number DynamoDB can store"
    if isinstance(value, Decimal) and not value.is_finite():
        return f"{value} is not a number DynamoDB can store"
    digits = len(str(abs(value))) if isinstance(value, int) else len(value.as_tuple().digits)
    if digits > MAX_NUMBER_DIGITS:
        return f"a number of {digits} digits is more than DynamoDB's {MAX_NUMBER_DIGITS}"
    return None


def check_numbers(conf: dict[str, Any], *, dag_id: str) -> dict[str, Any]:
    """``conf`` if every number in it fits DynamoDB, else ParamValidationError naming the field."""
    stack: list[tuple[Any, str]] = [(conf, "conf")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((child, f"{path}.{str(key)[:40]}") for key, child in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))
        elif isinstance(value, (int, float, Decimal)):
            problem = _number_problem(value)
            if problem:
                raise ParamValidationError(f"The conf of a run of DAG '{dag_id}': field {path[:120]}: {problem}.")
    return conf


def strict_json_loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers that overflow a float (1e400).

    Raises ValueError (never RecursionError) for what it refuses.
    """

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"the number {text[:40]} is out of range")
        return value

    try:
        return json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
