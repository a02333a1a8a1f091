"""orchestrator.local.heap: what a kept block makes is never scanned by a young collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from orchestrator.local import heap

MANY = 50_000  # far above the young generation's threshold (700)


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the collections that run while the test does; the heap left as found."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)
        heap.release()
        if not was:
            gc.disable()


def _allocate_after() -> list[list[int]]:
    return [[i] for i in range(200)]  # tracked objects: the first one checks the young count


def test_kept_block_is_frozen_before_the_collector_runs_again(collections: list[int]) -> None:
    with heap.kept():
        made = [[i] for i in range(MANY)]
        assert gc.isenabled() is False
    assert gc.isenabled() is True
    _allocate_after()
    assert collections == []  # no young collection of the block's objects
    assert gc.get_freeze_count() >= MANY
    assert made[-1] == [MANY - 1]


def test_paused_alone_leaves_the_block_to_the_next_young_collection(collections: list[int]) -> None:
    # What kept() prevents: the count grows while the collector is disabled.
    with heap.paused():
        made = [[i] for i in range(MANY)]
    _allocate_after()
    assert 0 in collections
    assert made[0] == [0]


def test_kept_restores_a_disabled_collector_and_does_not_settle_on_error(collections: list[int]) -> None:
    gc.disable()
    with heap.kept():
        pass
    assert gc.isenabled() is False
    gc.enable()
    heap.release()
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError), heap.kept():
        _garbage = [[i] for i in range(1000)]
        raise RuntimeError("start failed")
    assert gc.isenabled() is True
    assert gc.get_freeze_count() == frozen  # nothing frozen for a block that raised
