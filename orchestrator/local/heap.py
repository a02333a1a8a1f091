"""The local cloud and Python's cyclic garbage collector.

Starting a local cloud makes a few hundred thousand objects that live as long as it does: the
modules of moto, botocore, boto3, pydantic and the engine, the botocore service models, and
moto's backends restored from the deploy cache. The collector scans every tracked object
again in each full collection, and the start itself triggers several of them: measured on a
fresh ``stratus run`` of a one-task DAG, a quarter of the process's CPU went to collections
that found next to nothing, and a further 0.3 s to the one the interpreter runs at exit.

So, in this order:

- ``kept()`` around what makes long-lived objects (a command's imports, the cloud's start:
  restore or deploy; a run's plan and its clients with their service models): no collection
  meanwhile (``paused()``), then, before the collector may run again, what exists moves to its
  permanent generation (``settle()``: ``gc.freeze``) and is not scanned again. In that order:
  the collector counts allocations while it is disabled, so the first allocation after
  re-enabling it started a young collection of everything the block made (tens of thousands
  of objects, 4-13 ms each on a fresh ``stratus run``) when the block ended before its
  ``settle()``. What the run makes is collected as usual, so a long run's garbage is still freed;
- ``release()`` when the cloud closes (``gc.unfreeze``): its objects are ordinary again
  and are freed when nothing refers to them (a test process starts many clouds);
- ``settle()`` again just before a ``stratus`` process exits: the interpreter's last
  collection then has nothing to scan.

Nothing here changes what any code computes; only when the collector looks.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting frees as usual)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """``paused()``, and ``settle()`` before the collector may run again (not when the block raises)."""
    with paused():
        yield
        settle()


def settle() -> None:
    """Move every object alive now out of the collector's scans (``gc.freeze``)."""
    gc.freeze()


def release() -> None:
    """Make the objects ``settle`` moved ordinary again (``gc.unfreeze``)."""
    gc.unfreeze()
