"""When runs start: schedules, catch-up, backfill, S3 object arrival, assets, manual runs.

- ``timetable``: pure; logical dates and data intervals with Airflow 3 semantics, DST-aware.
- ``aws_schedule``: pure; a plan's schedule as an EventBridge Scheduler expression.
- ``sync``: `stratus sync` (registry + schedules, with a dry-run diff).
- ``fire``: a schedule fired -> the due ``scheduled__`` runs, once.
- ``backfill``: `stratus backfill` -> ``backfill__`` runs for a date range.
- ``s3events`` / ``assets``: S3 and outlet events -> asset conditions -> ``asset_triggered__`` runs.
- ``api``: manual runs, pause/unpause, the Function URL HTTP API.
- ``handler``: the trigger function's dispatch on the event's shape.
- ``runs``: the one place that starts runs through the engine.
"""
