"""Airflow names Stratus does not serve: they import, and the DAG that uses one is refused.

A DAG file written for Airflow may hold several DAGs; one of them using a feature Stratus
does not run (a provider's operator, the human-in-the-loop operators, ...) must not take the
others down. So every ``airflow.*`` name imports (``airflow_compat`` answers a name it does
not serve with :func:`unserved`), and using it marks only the DAG that uses it:

- instantiated inside a DAG (``S3CreateObjectOperator(task_id=...)``, a subclass of an
  unserved base class, a function decorated by an unserved decorator and called): a
  stand-in task takes its place, so the DAG's shape (``>>``, groups) stays intact, and the
  task carries the refusal;
- a value in a DAG's schedule or a task's ``outlets``/``inlets``;
- a name a task's function refers to (found in the function's code at validate time).

``stratus validate`` lists each refusal with the file:line of the use, the feature's name and
what to use instead (``refusal_problems``); the other DAGs of the file load, validate and run.
"""

from __future__ import annotations

import types
from typing import Any, NamedTuple

from orchestrator.authoring import _stack
from orchestrator.errors import DagDefinitionError


class Refusal(NamedTuple):
    """One use of an unserved feature: what, where, and what to do instead."""

    name: str      # as written: "airflow.providers.amazon.aws.operators.s3.S3CreateObjectOperator"
    feature: str   # "the Amazon provider's operators"
    advice: str    # what to use instead
    file: str
    line: int

    def message(self, subject: str) -> str:
        return (f"{_stack.short_path(self.file)}:{self.line}: {subject} uses {self.feature} ({self.name}), which "
                f"Stratus does not serve: {self.advice}.")


class UnservedFeatureError(DagDefinitionError):
    """A DAG uses something Stratus does not serve (raised where no stand-in can take its place).

    Raised inside a DAG's definition it refuses that DAG only (``DAG.__exit__`` records it and
    the file goes on loading); outside any DAG it fails the file like any DagDefinitionError.
    """

    def __init__(self, message: str | Refusal) -> None:
        self.refusal: Refusal | None = message if isinstance(message, Refusal) else None
        text = message.message("this DAG") if isinstance(message, Refusal) else message
        if not isinstance(message, Refusal):
            file, line = _stack.caller_site()
            if file != "<unknown>" and not text.startswith(_stack.short_path(file)):
                text = f"{_stack.short_path(file)}:{line}: {text}"
        super().__init__(text)


_PROVIDER_ADVICE = ("Stratus runs no provider packages: write the step as a @task that calls the service's client "
                    "library (boto3 for AWS), or subclass BaseOperator")

# (name, or module part) -> (feature, advice). Looked up by name first, then by module.
_BY_NAME: dict[str, tuple[str, str]] = {
    "PythonVirtualenvOperator": ("virtualenv tasks", "package the dependencies with the worker function (or a "
                                 "per-task lambda_function) and use PythonOperator or @task"),
    "ExternalPythonOperator": ("external-Python tasks", "package the dependencies with the worker function (or a "
                               "per-task lambda_function) and use PythonOperator or @task"),
    "BranchPythonVirtualenvOperator": ("virtualenv tasks", "use @task.branch with the dependencies packaged in the "
                                       "worker function"),
    "BranchExternalPythonOperator": ("external-Python tasks", "use @task.branch with the dependencies packaged in "
                                     "the worker function"),
    "AssetAccessControl": ("asset access control", "restrict who may write an asset with the worker role's S3 "
                           "policy (template.yaml)"),
    "EmailOperator": ("email operators", "send the mail from a @task (Amazon SES through boto3)"),
    "SmoothOperator": ("SmoothOperator", "use EmptyOperator"),
    "ObjectStoragePath": ("object storage paths (ObjectStoragePath)", "read and write the objects with boto3 in "
                          "the @task (s3.get_object / put_object) and pass their keys between tasks as strings; a "
                          "file:// path would live in one invocation's /tmp only"),
}
_BY_MODULE: tuple[tuple[str, tuple[str, str]], ...] = (
    ("airflow.providers.standard.operators.hitl", ("the human-in-the-loop operators", "ask for the decision outside "
     "the run and pass it in the run's conf (stratus trigger DAG --conf ...), or split the DAG at the decision")),
    ("airflow.providers.standard.operators.python", ("virtualenv tasks", "package the dependencies with the worker "
     "function and use PythonOperator or @task")),
    ("airflow.providers.standard.sensors", ("this sensor", "write the wait as a PythonSensor or @task.sensor (each "
     "poke is one short invocation)")),
    ("airflow.sensors", ("this sensor", "write the wait as a PythonSensor or @task.sensor (each poke is one short "
     "invocation)")),
    ("airflow.providers.common.sql", ("SQL operators", _PROVIDER_ADVICE)),
    ("airflow.providers", ("", _PROVIDER_ADVICE)),
)


def describe_feature(module: str, name: str) -> tuple[str, str]:
    """(feature, advice) for ``module.name``."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.endswith("Sensor") or name in ("PokeReturnValue", "BaseSensorOperator"):
        return ("this sensor", "write the wait as a PythonSensor or @task.sensor whose poke checks the service "
                "(boto3 for AWS; each poke is one short invocation), or schedule the DAG on an Asset")
    for prefix, (feature, advice) in _BY_MODULE:
        if module == prefix or module.startswith(prefix + "."):
            if prefix == "airflow.providers" and not feature:
                package = module.split(".")[2] if module.count(".") >= 2 else "?"
                feature = f"the '{package}' provider (apache-airflow-providers-{package.replace('_', '-')})"
            return feature, advice
    return (f"the Airflow name {name}", "see the README's Airflow compatibility table for what Stratus serves, "
            "and write the step as a @task or a BaseOperator subclass")


class _UnservedMeta(type(object)):  # type: ignore[misc]
    """Class-level attribute access on an unserved class gives an unserved value (``WeekDay.MONDAY``)."""

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        info = cls.__dict__.get("_unserved_info") or getattr(cls, "_unserved_info", None)
        if info is None:
            raise AttributeError(attr)
        return UnservedValue(f"{info[0]}.{attr}", info[1], info[2])


def _operator_base() -> type:
    from orchestrator.authoring.baseoperator import BaseOperator

    return BaseOperator


class UnservedValue:
    """What an unserved name gives when it is used as a value, a call or a decorator."""

    _stratus_unserved = True

    def __init__(self, name: str, feature: str, advice: str, *, function: Any = None,
                 site: tuple[str, int] | None = None) -> None:
        self._name, self._feature, self._advice = name, feature, advice
        self._function = function
        self._site = site or _stack.caller_site()
        dag = _stack.current_dag()
        if dag is not None and not _stack.state.detached:
            dag.refusals.append(self.refusal())  # used inside this DAG's definition: this DAG is refused

    def refusal(self, site: tuple[str, int] | None = None) -> Refusal:
        file, line = site or self._site
        return Refusal(self._name, self._feature, self._advice, file, line)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return UnservedValue(f"{self._name}.{attr}", self._feature, self._advice, function=self._function,
                             site=self._site)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        site = _stack.caller_site()
        dag = _stack.current_dag()
        if len(args) == 1 and callable(args[0]) and not kwargs and self._function is None \
                and not isinstance(args[0], UnservedValue):
            # Used as a decorator (@setup, @task.sensor(...)(fn)): calling the result in a DAG makes a task.
            return UnservedValue(self._name, self._feature, self._advice, function=args[0], site=site)
        if dag is not None and (self._function is not None or "task_id" in kwargs):
            task_id = kwargs.get("task_id") or getattr(self._function, "__name__", None) or self._name.split(".")[-1]
            return stand_in(self.refusal(site), task_id=str(task_id), trigger_rule=kwargs.get("trigger_rule"))
        return UnservedValue(self._name, self._feature, self._advice, site=site)

    def __or__(self, other: Any) -> Any:
        return self

    __and__ = __ror__ = __rand__ = __or__

    def __iter__(self) -> Any:
        return iter(())

    def __repr__(self) -> str:
        return f"<unserved {self._name}>"


def stand_in(refusal: Refusal, *, task_id: str, trigger_rule: Any = None) -> Any:
    """A task in the current DAG that takes an unserved operator's place (it never runs)."""
    cls = _stand_in_class()
    kwargs: dict[str, Any] = {"task_id": task_id, "_refusal": refusal}
    if trigger_rule is not None:
        kwargs["trigger_rule"] = trigger_rule
    dag = _stack.current_dag()
    if dag is not None and dag.has_task(task_id):
        kwargs["task_id"] = dag.unique_task_id(task_id)
    return cls(**kwargs)


_STAND_IN: list[type] = []


def _stand_in_class() -> type:
    if not _STAND_IN:
        base = _operator_base()

        class UnservedTask(base):  # type: ignore[misc, valid-type]
            """Stands in for an operator Stratus does not serve; its DAG does not validate."""

            def __init__(self, *, _refusal: Refusal, **kwargs: Any) -> None:
                known = {k: v for k, v in kwargs.items() if k in ("task_id", "trigger_rule", "dag", "task_group")}
                super().__init__(**known)
                self._refusal = _refusal

            def execute(self, context: Any) -> Any:
                raise UnservedFeatureError(self._refusal)

        _STAND_IN.append(UnservedTask)
    return _STAND_IN[0]


_CLASSES: dict[tuple[str, str], type] = {}


def unserved(module: str, name: str) -> type:
    """The stand-in class for ``module.name`` (one per name): it imports, subclasses and calls.

    Calling it with ``task_id=`` inside a DAG (directly or through a subclass) adds a stand-in
    task carrying the refusal; any other call gives an :class:`UnservedValue`.
    """
    key = (module, name)
    if key in _CLASSES:
        return _CLASSES[key]
    feature, advice = describe_feature(module, name)
    base = _operator_base()
    meta = type("_Meta", (_UnservedMeta, type(base)), {})
    full = f"{module}.{name}"

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        site = _stack.caller_site()
        info = cls._unserved_info  # type: ignore[attr-defined]
        subject = info[0] if cls.__dict__.get("_unserved_info") else f"{info[0]} (through {cls.__name__})"
        value = UnservedValue(subject, info[1], info[2], site=site)
        if "task_id" in kwargs and _stack.current_dag() is not None and not _stack.state.detached:
            return stand_in(value.refusal(site), task_id=str(kwargs["task_id"]),
                            trigger_rule=kwargs.get("trigger_rule"))
        return value(*args, **kwargs) if args or kwargs else value

    cls = meta(name, (base,), {
        "__new__": __new__,
        "__module__": module,
        "__doc__": f"Stratus does not serve {full}: {feature}; {advice}.",
        "_unserved_info": (full, feature, advice),
        "_stratus_unserved": True,
    })
    _CLASSES[key] = cls
    return cls


def module_getattr(module: str) -> Any:
    """A module-level ``__getattr__`` that answers every public name with :func:`unserved`."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return unserved(module, name)

    return __getattr__


def is_unserved(value: Any) -> bool:
    return getattr(type(value) if not isinstance(value, type) else value, "_stratus_unserved", False) is True \
        or isinstance(value, UnservedValue)


def find_unserved(value: Any, depth: int = 0) -> list[Any]:
    """Unserved values or classes inside ``value`` (lists, tuples, asset conditions), in order."""
    if depth > 6:
        return []
    if isinstance(value, UnservedValue) or (isinstance(value, type) and getattr(value, "_stratus_unserved", False)):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [u for item in value for u in find_unserved(item, depth + 1)]
    objects = getattr(value, "objects", None)
    if isinstance(objects, list):
        return [u for item in objects for u in find_unserved(item, depth + 1)]
    return []


def refusal_of(value: Any, site: tuple[str, int] | None = None) -> Refusal:
    if isinstance(value, UnservedValue):
        return value.refusal(site)
    full, feature, advice = value._unserved_info
    file, line = site or ("<unknown>", 0)
    return Refusal(full, feature, advice, file, line)


def names_used_by(function: Any) -> list[tuple[str, Any, tuple[str, int]]]:
    """Unserved globals that ``function``'s code (nested functions included) refers to, with the
    file and line of the first use."""
    code = getattr(function, "__code__", None)
    glb = getattr(function, "__globals__", None)
    if code is None or not isinstance(glb, dict):
        return []
    out: list[tuple[str, Any, tuple[str, int]]] = []
    seen: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        for n in c.co_names:
            if n in seen or n not in glb:
                continue
            seen.add(n)
            if is_unserved(glb[n]):
                out.append((n, glb[n], (c.co_filename, _first_use(c, n))))
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def _first_use(code: types.CodeType, name: str) -> int:
    import dis

    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval == name and ins.positions \
                and ins.positions.lineno:
            return ins.positions.lineno
    return code.co_firstlineno
