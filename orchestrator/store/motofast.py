"""Moved to ``orchestrator.local.motofast`` (local-only moto patches); this name is kept for old imports."""

from __future__ import annotations

from orchestrator.local.motofast import install

__all__ = ["install"]
