"""The run item's counter and mapping attributes: the one place their names are spelled.

The engine finds readiness in O(out-degree) with counters on the run item
(docs/internals.md, "Counters for readiness"); a mapped task keeps its size and expansion
bookkeeping there too. Every module reads and writes them through these names::

    c#{downstream}#{state}   instances of each state its finished upstream steps produced
    c#{downstream}#units     upstream steps of that task fully done
    c#{downstream}#s#{state} the part of c#{downstream}#{state} from setup tasks (a teardown's rule)
    c#{downstream}#forced    a branch/short-circuit forced it skipped
    m#{task}#{state}, m#{task}#done      a mapped task's finished instances
    map_count#{task}, map_lens#{task}    its instance count and per-argument lengths
    map_queued#{task}, map_at#{task}     the expansion's marker and the time it last moved
    map_gen#{task}                       the expansion token (removed by a clear)
    gopen#{task}                         a mapped group's follower with a fast rule was opened (engine.groupmap)
"""

from __future__ import annotations

_UPSTREAM, _MAPPED = "c#", "m#"


def upstream(task_id: str, state: str) -> str:
    """Instances in ``state`` that ``task_id``'s finished upstream steps produced."""
    return f"{_UPSTREAM}{task_id}#{state}"


def setup_upstream(task_id: str, state: str) -> str:
    """Instances in ``state`` that ``task_id``'s finished upstream *setup* steps produced."""
    return f"{_UPSTREAM}{task_id}#s#{state}"


def units(task_id: str) -> str:
    """How many upstream steps of ``task_id`` are fully done."""
    return f"{_UPSTREAM}{task_id}#units"


def forced(task_id: str) -> str:
    """Set when a branch or short-circuit forced ``task_id`` skipped."""
    return f"{_UPSTREAM}{task_id}#forced"


def mapped(task_id: str, state: str) -> str:
    """Instances of mapped ``task_id`` that ended in ``state``."""
    return f"{_MAPPED}{task_id}#{state}"


def mapped_done(task_id: str) -> str:
    """Instances of mapped ``task_id`` that ended (any terminal state)."""
    return f"{_MAPPED}{task_id}#done"


def map_count(task_id: str) -> str:
    return f"map_count#{task_id}"


def map_lens(task_id: str) -> str:
    return f"map_lens#{task_id}"


def map_queued(task_id: str) -> str:
    """The expansion's marker: every instance below it exists."""
    return f"map_queued#{task_id}"


def map_at(task_id: str) -> str:
    """Epoch seconds of the expansion marker's last move."""
    return f"map_at#{task_id}"


def map_gen(task_id: str) -> str:
    """The mapped task's expansion token."""
    return f"map_gen#{task_id}"


def group_open(task_id: str) -> str:
    """Set once a follower in a mapped task group whose rule is first decided over every upstream
    instance (``one_failed`` & co., engine.groupmap) was found ready: its instances are decided per index."""
    return f"gopen#{task_id}"


def expansion_attrs(task_id: str) -> list[str]:
    """Every attribute a mapped task's expansion writes (a clear removes them all)."""
    return [map_count(task_id), map_lens(task_id), map_gen(task_id), map_queued(task_id), map_at(task_id)]


def is_counter(attribute: str) -> bool:
    """True for a readiness counter (``c#...`` or ``m#...``), which a reconcile recomputes."""
    return attribute.startswith((_UPSTREAM, _MAPPED))
