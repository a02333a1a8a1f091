"""Moved to ``orchestrator.telemetry`` (a lower layer: the engine uses it). Old imports keep working:
this name is the same module object."""

from __future__ import annotations

import sys

from orchestrator import telemetry as _moved

sys.modules[__name__] = _moved
