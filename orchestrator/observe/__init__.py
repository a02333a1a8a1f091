"""Watching runs: metrics and logs (``telemetry``, ``logs``), the run grid (``gridmodel``,
``grid``, ``terminal``), the CloudWatch dashboard and its custom widget (``dashboard``,
``widget``), `stratus ui` (``ui``) and what they all read and act through (``service``)."""
