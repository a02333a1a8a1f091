"""Moved to ``orchestrator.secrets.printmask`` (a lower layer: the engine uses it). Old imports keep working:
this name is the same module object."""

from __future__ import annotations

import sys

from orchestrator.secrets import printmask as _moved

sys.modules[__name__] = _moved
