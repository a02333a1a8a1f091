"""Environment variable names and fixed values shared by the library, the functions and the template."""

from __future__ import annotations

# Set on every Lambda function by template.yaml; set by orchestrator.local for the embedded cloud.
ENV_TABLE = "STRATUS_TABLE"
ENV_ARTEFACT_BUCKET = "STRATUS_ARTEFACT_BUCKET"
ENV_WORKER_FUNCTION = "STRATUS_WORKER_FUNCTION"
ENV_WORKER_TIMEOUT = "STRATUS_WORKER_TIMEOUT"  # the worker function's Lambda timeout (template WorkerTimeout)
ENV_CONDUCTOR_FUNCTION = "STRATUS_CONDUCTOR_FUNCTION"
ENV_TRIGGER_FUNCTION = "STRATUS_TRIGGER_FUNCTION"
ENV_REQUESTS_FUNCTION = "STRATUS_REQUESTS_FUNCTION"
ENV_RETRY_QUEUE_URL = "STRATUS_RETRY_QUEUE_URL"
ENV_SCHEDULER_GROUP = "STRATUS_SCHEDULER_GROUP"
ENV_SCHEDULER_ROLE_ARN = "STRATUS_SCHEDULER_ROLE_ARN"
ENV_TIMER_GROUP = "STRATUS_TIMER_GROUP"  # retry timers' schedule group (apart from DAG schedules)
ENV_TIMER_ROLE_ARN = "STRATUS_TIMER_ROLE_ARN"  # the role a retry timer runs with (invokes the conductor only)
ENV_DAGS_ROOT = "STRATUS_DAGS_ROOT"
ENV_STACK = "STRATUS_STACK"
ENV_ENDPOINT_URL = "STRATUS_ENDPOINT_URL"
ENV_INLINE_XCOM_LIMIT = "STRATUS_INLINE_XCOM_LIMIT"
# "dag" when the deploy generated one worker function per DAG (orchestrator.plan.isolation)
ENV_ISOLATION = "STRATUS_ISOLATION"
# Mapped-task expansion (orchestrator.engine.expansion): instances created per invocation, and
# the seconds a conductor invocation spends on one chunk before passing the rest on.
ENV_EXPAND_CHUNK = "STRATUS_EXPAND_CHUNK"
ENV_EXPAND_BUDGET_S = "STRATUS_EXPAND_BUDGET_S"

# Powertools
METRICS_NAMESPACE = "Stratus"
SERVICE_NAME = "stratus"

# Lambda limits the plan validator and the dispatcher respect.
LAMBDA_MAX_TIMEOUT_S = 900
ASYNC_INVOKE_MAX_BYTES = 256 * 1024
DYNAMODB_ITEM_MAX_BYTES = 400 * 1024
# Outputs larger than this go to S3 by reference (the item keeps room for the rest).
DEFAULT_INLINE_XCOM_LIMIT = 32 * 1024
# SQS DelaySeconds ceiling; longer retry delays use a one-time EventBridge Scheduler schedule.
SQS_MAX_DELAY_S = 900

# Logical function names (template resource ids) the plan's Lambda targets refer to.
WORKER = "WorkerFunction"
CONDUCTOR = "ConductorFunction"
TRIGGER = "TriggerFunction"
WIDGET = "WidgetFunction"
API = "ApiFunction"
