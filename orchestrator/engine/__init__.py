"""The engine: pure rules (``rules``), the state machine (``engine.Engine``), the task runtime
(``runtime``), dispatch (``dispatch.LambdaDispatcher``), messages and the ``conductor``."""

from __future__ import annotations
