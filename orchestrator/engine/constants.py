"""The engine's fixed numbers and state sets, in one module every engine module imports at its top."""

from __future__ import annotations

STATES = ("success", "failed", "skipped", "upstream_failed", "removed")
FAILED = ("failed", "upstream_failed")
QUEUE_GRACE_S = 900 + 120  # a queued try not claimed by then was lost (async retries included)
RUN_GRACE_S = 120
# A chain step's count rides on the next instance (``carry``) instead of a run-item write; every
# CARRY_LIMIT steps it is written, so tasks_done on the run item lags a chain by less than this.
CARRY_LIMIT = 10
# Rules that can fire before every upstream instance is done, and the states that fire them.
EARLY_RULES = {"one_success": ("success",), "one_failed": ("failed", "upstream_failed"), "one_done": ("success", "failed")}

# Rules that can start a task while one of its upstreams still runs.
EARLY_START_RULES = frozenset({"one_success", "one_failed", "one_done", "always"})
