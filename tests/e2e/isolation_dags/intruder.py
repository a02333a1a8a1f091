"""A DAG whose task tries to reach the `target` DAG's items, outputs, plan and secret.

Each attempt is recorded as "allowed" or the AWS error code it got; the test reads the result.
"""

from datetime import datetime

from orchestrator import dag, task


def _attempt(call) -> str:
    from botocore.exceptions import ClientError

    try:
        call()
        return "allowed"
    except ClientError as err:
        return err.response["Error"]["Code"]
    except Exception as exc:  # the store wraps ClientError in its own errors
        cause = exc.__cause__
        if cause is not None and hasattr(cause, "response"):
            return cause.response["Error"]["Code"]
        return type(exc).__name__ + ": " + str(exc)


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["stratus:isolation=intruders"],
     params={"plan_key": "", "victim_run": ""})
def intruder():
    @task
    def tamper(**context) -> dict:
        import json
        import os

        import boto3

        from orchestrator.triggers.requests import CrossDagRequests
        from orchestrator.config import Clients, Resources

        table, bucket = os.environ["STRATUS_TABLE"], os.environ["STRATUS_ARTEFACT_BUCKET"]
        ddb, s3, sm = boto3.client("dynamodb"), boto3.client("s3"), boto3.client("secretsmanager")
        victim_pk = f"RUN#target#{context['params']['victim_run']}"
        victim = {"pk": {"S": victim_pk}, "sk": {"S": "RUN"}}
        out = {
            "write_run_item": _attempt(lambda: ddb.update_item(
                TableName=table, Key=victim, UpdateExpression="SET note = :n",
                ExpressionAttributeValues={":n": {"S": "tampered"}})),
            "read_run_item": _attempt(lambda: ddb.get_item(TableName=table, Key=victim)),
            "write_xcom": _attempt(lambda: s3.put_object(Bucket=bucket, Key="xcom/target/forged.json", Body=b"1")),
            "read_plan": _attempt(lambda: s3.get_object(Bucket=bucket, Key=context["params"]["plan_key"])),
            "read_secret": _attempt(lambda: sm.get_secret_value(SecretId="stratus/dags/target/conn")),
            "read_own_secret": _attempt(lambda: sm.get_secret_value(SecretId="stratus/dags/intruder/conn")),
            "runid_pointer": _attempt(lambda: ddb.put_item(TableName=table, Item={
                "pk": {"S": "RUNID#forged"}, "sk": {"S": "DAG#target"}})),
        }
        # Events only the trigger function takes (schedule fires, asset events) cannot be sent in
        # another DAG's name: a DAG's role may not invoke the trigger function, and the requests
        # function it may invoke serves nothing but requests.
        lam = boto3.client("lambda")
        forged = json.dumps({"kind": "asset_event", "uri": "s3://stratus-landing/anything/", "source_dag_id": "target",
                             "source_run_id": "forged", "source_task_id": "double"}).encode()
        out["invoke_trigger_function"] = _attempt(lambda: lam.invoke(
            FunctionName=os.environ["STRATUS_TRIGGER_FUNCTION"], Payload=forged))
        answer = lam.invoke(FunctionName=os.environ["STRATUS_REQUESTS_FUNCTION"], Payload=forged)
        out["asset_event_to_requests"] = answer.get("FunctionError") and json.loads(answer["Payload"].read()).get(
            "errorType", "error")
        # Nor through EventBridge Scheduler: a DAG's role may create schedules only in the retry
        # timers' group, passing only the timers' role, which invokes the conductor alone.
        sched = boto3.client("scheduler")
        account = os.environ["STRATUS_TIMER_ROLE_ARN"].split(":")[4]
        trigger_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:{account}:function:{os.environ['STRATUS_TRIGGER_FUNCTION']}"

        def schedule(group: str, name: str, role: str):
            return lambda: sched.create_schedule(
                GroupName=os.environ[group], Name=name, ScheduleExpression="at(2026-01-01T00:00:00)",
                FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                Target={"Arn": trigger_arn, "RoleArn": os.environ[role], "Input": forged.decode()})

        out["schedule_in_dag_schedules"] = _attempt(schedule("STRATUS_SCHEDULER_GROUP", "forged-a", "STRATUS_TIMER_ROLE_ARN"))
        out["schedule_with_scheduler_role"] = _attempt(schedule("STRATUS_TIMER_GROUP", "forged-b", "STRATUS_SCHEDULER_ROLE_ARN"))
        out["timer_to_trigger"] = _attempt(schedule("STRATUS_TIMER_GROUP", "forged-c", "STRATUS_TIMER_ROLE_ARN"))
        # A request in another DAG's name cannot be written; one in its own name is checked.
        requests = CrossDagRequests(Clients.from_env(), Resources.from_env(), None)
        out["request_as_target"] = _attempt(lambda: ddb.put_item(TableName=table, Item={
            "pk": {"S": victim_pk}, "sk": {"S": "REQ#double#-1#1#x"}}))
        ti = context["ti"]
        from orchestrator.compose import build_store

        requests.store = build_store(Clients.from_env(), Resources.from_env())
        try:
            requests.submit(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=-1,
                            try_number=ti.try_number, op="start_run", args={"dag_id": "target", "run_id": "forged"})
            out["trigger_undeclared"] = "allowed"
        except Exception as exc:  # noqa: BLE001
            out["trigger_undeclared"] = type(exc).__name__
        return out

    tamper()


intruder()
