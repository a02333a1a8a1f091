"""Trigger rules: when a task may run given the states of its upstream tasks (Airflow 3 list)."""

from __future__ import annotations

from enum import Enum


class TriggerRule(str, Enum):
    """Every trigger rule of Airflow 3 (``airflow.task.trigger_rule.TriggerRule``).

    A ``str`` enum: ``TriggerRule.ALL_DONE == "all_done"``, so tasks accept either form.
    """

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    ALL_SKIPPED = "all_skipped"

    @classmethod
    def is_valid(cls, value: object) -> bool:
        """True when ``value`` names a trigger rule."""
        return value in cls._value2member_map_

    @classmethod
    def all_triggers(cls) -> set[str]:
        """The set of every rule name."""
        return set(cls._value2member_map_)

    def __str__(self) -> str:
        return self.value
