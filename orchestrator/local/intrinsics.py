"""A small CloudFormation intrinsic-function resolver for the local cloud.

The local cloud needs it where moto's CloudFormation stops: the resources moto skips
(schedules, event invoke configuration, alarms, function URLs) are created through the APIs
with their properties resolved here, and references to them inside the resources moto does
create are replaced before the stack is created.

Supported: ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt``, ``Fn::Sub``
(both forms), ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``, ``Fn::Equals``,
``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition`` and ``AWS::NoValue``. Anything else raises
``IntrinsicError`` naming the function, so a template change that needs more says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.errors import StratusError

NO_VALUE = object()  # AWS::NoValue: the property is removed

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(StratusError):
    """A template value uses an intrinsic function the local resolver cannot evaluate."""


class Resolver:
    """Resolve intrinsic functions against a stack's parameters and resources.

    ``ref(name)`` returns the value of ``Ref name`` for a resource (its physical id);
    ``getatt(name, attribute)`` returns ``Fn::GetAtt``. Parameters and pseudo parameters
    are looked up in ``parameters`` first. Conditions are evaluated lazily from
    ``conditions`` (the template's ``Conditions`` section).
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        ref: Callable[[str], Any],
        getatt: Callable[[str, str], Any],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self._parameters = dict(parameters)
        self._ref = ref
        self._getatt = getatt
        self._conditions = dict(conditions or {})
        self._condition_values: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        """The value of the named template condition."""
        if name not in self._condition_values:
            if name not in self._conditions:
                raise IntrinsicError(f"Condition {name!r} is not defined in the template's Conditions.")
            self._condition_values[name] = bool(self.resolve(self._conditions[name]))
        return self._condition_values[name]

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic function evaluated (``NO_VALUE`` entries dropped)."""
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
            if key.startswith("Fn::"):
                raise IntrinsicError(f"Intrinsic function {key!r} is not supported by the local cloud's resolver.")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    # -- functions
    def _fn_ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._parameters:
            return self._parameters[name]
        return self._ref(name)

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            logical, _, attribute = arg.partition(".")
        else:
            logical, attribute = arg[0], self.resolve(arg[1])
        return self._getatt(logical, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self._parameters:
                logical, attribute = name.split(".", 1)
                return str(self._getatt(logical, attribute))
            return str(self._fn_ref(name))

        return _SUB_VAR.sub(one, text).replace("${!", "${")

    def _fn_join(self, arg: Any) -> str:
        sep, items = arg
        return str(sep).join(str(v) for v in self.resolve(items))

    def _fn_select(self, arg: Any) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, arg: Any) -> list[str]:
        sep, text = arg
        return str(self.resolve(text)).split(sep)

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        a, b = (self.resolve(v) for v in arg)
        return str(a) == str(b)

    def _fn_not(self, arg: Any) -> bool:
        return not self.resolve(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self.resolve(v) for v in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self.resolve(v) for v in arg)

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(arg)


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": Resolver._fn_ref,
    "Fn::GetAtt": Resolver._fn_getatt,
    "Fn::Sub": Resolver._fn_sub,
    "Fn::Join": Resolver._fn_join,
    "Fn::Select": Resolver._fn_select,
    "Fn::Split": Resolver._fn_split,
    "Fn::If": Resolver._fn_if,
    "Fn::Equals": Resolver._fn_equals,
    "Fn::Not": Resolver._fn_not,
    "Fn::And": Resolver._fn_and,
    "Fn::Or": Resolver._fn_or,
    "Condition": Resolver._fn_condition,
}


def references(value: Any) -> set[str]:
    """Logical ids a value refers to through Ref, GetAtt or Sub (parameters included)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                return {arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]}
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                names = {m.group(1).strip().split(".", 1)[0] for m in _SUB_VAR.finditer(text)}
                if isinstance(arg, list):
                    names -= set(arg[1])
                    found |= references(list(arg[1].values()))
                return found | names
        for v in value.values():
            found |= references(v)
    return found
