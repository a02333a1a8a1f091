"""``>>``/``<<`` between tasks, groups, outputs and lists; ``chain`` and ``cross_downstream``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator


class DependencyMixin:
    """Anything that can sit on either side of ``>>``: it has ``roots`` and ``leaves``."""

    __slots__ = ()

    @property
    def roots(self) -> list[BaseOperator]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def leaves(self) -> list[BaseOperator]:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_upstream(self, other: Any) -> None:
        """Make ``other`` (a task, group, output, or a list of them) run before this."""
        link(other, self)

    def set_downstream(self, other: Any) -> None:
        """Make ``other`` (a task, group, output, or a list of them) run after this."""
        link(self, other)

    def __rshift__(self, other: Any) -> Any:
        if isinstance(other, Label):
            return other.after(self)
        link(self, other)
        return other

    def __lshift__(self, other: Any) -> Any:
        if isinstance(other, Label):
            return other.before(self)
        link(other, self)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # [a, b] >> self
        link(other, self)
        return self

    def __rlshift__(self, other: Any) -> Any:
        # [a, b] << self
        link(self, other)
        return self


class Label:
    """Airflow's edge label: ``check >> Label("no errors") >> load`` is ``check >> load``.

    The label documents the edge in the DAG file; it changes nothing in the plan.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._upstream: list[Any] = []
        self._downstream: list[Any] = []

    def after(self, upstream: Any) -> Label:
        self._upstream.append(upstream)
        return self

    def before(self, downstream: Any) -> Label:
        self._downstream.append(downstream)
        return self

    def __rrshift__(self, other: Any) -> Label:  # [a, b] >> Label("x")
        return self.after(other)

    def __rlshift__(self, other: Any) -> Label:  # [a, b] << Label("x")
        return self.before(other)

    def __rshift__(self, other: Any) -> Any:  # Label("x") >> b
        for up in self._upstream:
            link(up, other)
        return other

    def __lshift__(self, other: Any) -> Any:  # Label("x") << a
        for down in self._downstream:
            link(other, down)
        return other

    def __repr__(self) -> str:
        return f"Label({self.label!r})"


def _ends(node: Any, attr: str) -> list[BaseOperator]:
    if isinstance(node, DependencyMixin):
        return getattr(node, attr)
    if isinstance(node, (list, tuple, set, frozenset)):
        out: list[BaseOperator] = []
        for item in node:
            out.extend(_ends(item, attr))
        return out
    raise DagDefinitionError(
        f"Cannot set a dependency on {node!r} ({type(node).__name__}): use tasks, task outputs, "
        "task groups or lists of them on either side of >> and <<."
    )


def link(upstream: Any, downstream: Any) -> None:
    """Every leaf of ``upstream`` runs before every root of ``downstream``."""
    leaves = _ends(upstream, "leaves")
    roots = _ends(downstream, "roots")
    for leaf in leaves:
        for root in roots:
            leaf._add_downstream(root)


def chain(*tasks: Any) -> None:
    """Chain tasks, outputs, groups or lists in order: ``chain(a, [b, c], d)``.

    Two adjacent lists must have the same length and are linked pairwise, as in Airflow.
    """
    for up, down in zip(tasks, tasks[1:]):
        up_is_list = isinstance(up, (list, tuple))
        down_is_list = isinstance(down, (list, tuple))
        if up_is_list and down_is_list:
            if len(up) != len(down):
                raise DagDefinitionError(
                    f"chain() got adjacent lists of different lengths ({len(up)} and {len(down)}); "
                    "adjacent lists are linked pairwise, so give them the same length or use "
                    "cross_downstream() to link every pair."
                )
            for a, b in zip(up, down):
                link(a, b)
        else:
            link(up, down)


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Iterable[Any]) -> None:
    """Every task in ``from_tasks`` runs before every task in ``to_tasks``."""
    targets = list(to_tasks)
    for task in from_tasks:
        link(task, targets)


def chain_linear(*elements: Any) -> None:
    """Link each element to the next, every task of one to every task of the next (Airflow's
    ``chain_linear``): ``chain_linear(a, [b, c], [d, e], f)`` makes b and c each run before
    both d and e. Labels are not allowed here (as in Airflow).
    """
    if len(elements) < 2:
        raise DagDefinitionError(f"chain_linear() needs at least two elements, got {len(elements)}.")
    for up, down in zip(elements, elements[1:]):
        for item in (up, down):
            if isinstance(item, Label):
                raise DagDefinitionError("chain_linear() does not take Label(...); use a >> Label(...) >> b.")
        ups = list(up) if isinstance(up, (list, tuple)) else [up]
        for task in ups:
            link(task, list(down) if isinstance(down, (list, tuple)) else down)
