"""The step plan: compile DAGs to ``StepPlan`` documents, validate them, load DAG folders."""

from __future__ import annotations
