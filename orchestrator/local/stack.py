"""Deploy a translated template into moto: the stack, then what moto's CloudFormation skips.

Pipeline (``deploy_stack``):

1. stage a placeholder code package for every function and layer in a staging bucket (moto,
   like CloudFormation, wants S3 code; the local cloud runs the real code from disk);
2. split off the resource types moto does not implement (``MOTO_SKIPPED_TYPES``), replacing
   references to them inside the remaining resources with the values they will have;
3. ``cloudformation.create_stack`` and check it reaches ``CREATE_COMPLETE``;
4. create the skipped resources through their service APIs, properties resolved against the
   stack (schedule groups and schedules, event invoke configuration, function URLs, alarms,
   bucket policies);
5. compute the outputs that referenced skipped resources.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import Clients
from orchestrator.local.intrinsics import NO_VALUE, IntrinsicError, Resolver, references
from orchestrator.local.template import MOTO_SKIPPED_TYPES, TemplateError, TranslatedTemplate

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account


class StackError(TemplateError):
    """The template could not be deployed into the local cloud."""


@dataclass
class DeployedStack:
    """What the local cloud needs after deploying: outputs, physical ids, resolved skipped resources."""

    name: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    resource_types: dict[str, str]
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> resolved properties
    dead_letters: dict[str, str] = field(default_factory=dict)  # function name -> DeadLetterConfig target ARN
    # role name -> resolved ManagedPolicyArns (moto's CloudFormation ignores them; the IAM check reads them)
    managed_policies: dict[str, list[str]] = field(default_factory=dict)


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "Stratus local cloud: the code runs from the project folder, not from this package.\n")
    return buf.getvalue()


def pseudo_parameters(stack_name: str, region: str, account_id: str = ACCOUNT_ID) -> dict[str, str]:
    return {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
    }


def _parameter_values(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in cfn.get("Parameters", {}).items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = spec["Default"]
    return values


def _skipped_attribute(rtype: str, props: dict[str, Any], attribute: str | None, region: str) -> str:
    """Ref (attribute None) or GetAtt of a skipped resource, from its resolved properties."""
    if rtype == "AWS::CloudWatch::Alarm":
        name = props["AlarmName"]
        return name if attribute is None else f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"
    if rtype == "AWS::Scheduler::ScheduleGroup":
        name = props["Name"]
        return name if attribute is None else f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule-group/{name}"
    if rtype == "AWS::Scheduler::Schedule":
        name, group = props["Name"], props.get("GroupName", "default")
        return name if attribute is None else f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{name}"
    raise IntrinsicError(f"No local value for {'Ref' if attribute is None else 'GetAtt .' + attribute} of a {rtype}.")


def _split_for_moto(
    cfn: dict[str, Any], parameters: dict[str, Any], region: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """(template moto can create, skipped resources, outputs to compute after the stack)."""
    moto_cfn = copy.deepcopy(cfn)
    resources = moto_cfn["Resources"]
    skipped = {k: v for k, v in resources.items() if v.get("Type") in MOTO_SKIPPED_TYPES}
    for logical_id in skipped:
        del resources[logical_id]

    def unavailable(name: str, *_: Any) -> Any:
        raise IntrinsicError(f"{name} is created by the stack")

    pre = Resolver(parameters=parameters, ref=unavailable, getatt=unavailable, conditions=cfn.get("Conditions"))
    # moto lists a resource whose Condition is false without a LogicalResourceId: leave such
    # resources (and outputs) out, as CloudFormation does.
    for section in (resources, moto_cfn.get("Outputs", {})):
        for logical_id in [k for k, v in section.items() if "Condition" in v and not pre.condition(v["Condition"])]:
            del section[logical_id]

    def value_of(logical_id: str, attribute: str | None) -> str:
        spec = skipped[logical_id]
        try:
            props = pre.resolve(spec.get("Properties", {}))
            return _skipped_attribute(spec["Type"], props, attribute, region)
        except (IntrinsicError, KeyError):
            return f"unavailable-locally:{logical_id}"

    def rewrite(value: Any) -> Any:
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and arg in skipped:
                return value_of(arg, None)
            if key == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                if logical in skipped:
                    return value_of(logical, attribute)
            if key == "Fn::Sub":
                text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                for name in references({"Fn::Sub": arg}) & set(skipped):
                    for token in _sub_tokens(text, name):
                        attribute = token.split(".", 1)[1] if "." in token else None
                        text = text.replace("${" + token + "}", value_of(name, attribute))
                return {"Fn::Sub": [text, rewrite(variables)] if variables else text}
        return {k: rewrite(v) for k, v in value.items()}

    for logical_id, spec in resources.items():
        resources[logical_id] = rewrite(spec)
        depends = spec.get("DependsOn")
        if depends:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in skipped]
            if kept:
                resources[logical_id]["DependsOn"] = kept
            else:
                resources[logical_id].pop("DependsOn", None)
    late_outputs = {}
    for key, output in list(moto_cfn.get("Outputs", {}).items()):
        if references(output.get("Value")) & set(skipped):
            late_outputs[key] = output
            del moto_cfn["Outputs"][key]
    return moto_cfn, skipped, late_outputs


def _sub_tokens(text: str, logical_id: str) -> list[str]:
    tokens = []
    start = 0
    while (i := text.find("${" + logical_id, start)) >= 0:
        end = text.find("}", i)
        token = text[i + 2 : end]
        if token == logical_id or token.startswith(logical_id + "."):
            tokens.append(token)
        start = end + 1
    return tokens


def deploy_stack(
    clients: Clients,
    translated: TranslatedTemplate,
    *,
    stack_name: str,
    staging_bucket: str,
    region: str,
    parameters: dict[str, str] | None = None,
) -> DeployedStack:
    """Create the stack in moto and the resources moto skips; raises ``StackError`` on failure."""
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=staging_bucket)
    package = _placeholder_zip()
    for key in translated.staged_keys.values():
        s3.put_object(Bucket=staging_bucket, Key=key, Body=package)

    cfn = translated.cloudformation
    overrides = dict(parameters or {})
    values = {**_parameter_values(cfn, overrides), **pseudo_parameters(stack_name, region)}
    moto_cfn, skipped, late_outputs = _split_for_moto(cfn, values, region)

    from orchestrator.local import speedups

    speedups.stack_templates()
    cf = clients.client("cloudformation")
    try:
        cf.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(moto_cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in overrides.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as exc:
        raise StackError(f"moto could not create stack {stack_name!r} from {str(translated.path)!r}: {exc}") from exc
    stack = cf.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise StackError(
            f"Stack {stack_name!r} ended in {stack['StackStatus']} ({stack.get('StackStatusReason', 'no reason')})."
        )
    physical: dict[str, str] = {}
    types: dict[str, str] = {}
    for res in cf.describe_stack_resources(StackName=stack_name)["StackResources"]:
        physical[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "")
        types[res["LogicalResourceId"]] = res["ResourceType"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    deployed = DeployedStack(name=stack_name, outputs=outputs, physical_ids=physical, resource_types=types)

    resolver = Resolver(
        parameters=values,
        ref=lambda name: _ref(deployed, skipped, name, region),
        getatt=_getatt_factory(clients, deployed, skipped, region),
        conditions=cfn.get("Conditions"),
    )
    order = [
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Url",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::Scheduler::Schedule",
    ]
    for rtype in order:
        for logical_id, spec in skipped.items():
            if spec["Type"] != rtype:
                continue
            if "Condition" in spec and not resolver.condition(spec["Condition"]):
                continue
            props = resolver.resolve(spec.get("Properties", {}))
            deployed.skipped[logical_id] = {"Type": rtype, "Properties": props}
            _CREATORS[rtype](clients, props, deployed, logical_id)
            types[logical_id] = rtype
    for logical_id, spec in cfn["Resources"].items():
        target = spec.get("Properties", {}).get("DeadLetterConfig", {}).get("TargetArn")
        if spec.get("Type") == "AWS::Lambda::Function" and target is not None and logical_id in physical:
            deployed.dead_letters[physical[logical_id]] = str(resolver.resolve(target))
    for logical_id, spec in cfn["Resources"].items():
        arns = spec.get("Properties", {}).get("ManagedPolicyArns")
        if spec.get("Type") == "AWS::IAM::Role" and arns is not None and logical_id in physical:
            resolved = resolver.resolve(arns)
            if resolved is not NO_VALUE:
                deployed.managed_policies[physical[logical_id]] = [str(a) for a in resolved if a is not NO_VALUE]
    _enable_bucket_eventbridge(clients, cfn, physical)
    _enable_table_ttl(clients, cfn, physical)
    for key, output in late_outputs.items():
        value = resolver.resolve(output["Value"])
        if value is not NO_VALUE:
            deployed.outputs[key] = str(value)
    return deployed


def _enable_bucket_eventbridge(clients: Clients, cfn: dict[str, Any], physical: dict[str, str]) -> None:
    """moto's CloudFormation ignores a bucket's NotificationConfiguration; EventBridge delivery is applied here."""
    for logical_id, spec in cfn["Resources"].items():
        if spec.get("Type") != "AWS::S3::Bucket" or logical_id not in physical:
            continue
        notif = spec.get("Properties", {}).get("NotificationConfiguration", {})
        if notif.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
            clients.client("s3").put_bucket_notification_configuration(
                Bucket=physical[logical_id], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )


def _enable_table_ttl(clients: Clients, cfn: dict[str, Any], physical: dict[str, str]) -> None:
    """moto's CloudFormation ignores a table's TimeToLiveSpecification; it is applied here."""
    for logical_id, spec in cfn["Resources"].items():
        ttl = spec.get("Properties", {}).get("TimeToLiveSpecification")
        if spec.get("Type") == "AWS::DynamoDB::Table" and ttl and logical_id in physical:
            clients.client("dynamodb").update_time_to_live(
                TableName=physical[logical_id],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl.get("Enabled", True))},
            )


def _ref(deployed: DeployedStack, skipped: dict[str, Any], name: str, region: str) -> str:
    if name in deployed.physical_ids:
        return deployed.physical_ids[name]
    if name in deployed.skipped:
        info = deployed.skipped[name]
        return _skipped_attribute(info["Type"], info["Properties"], None, region)
    raise IntrinsicError(f"Ref {name!r}: no such resource or parameter in the stack.")


def _getatt_factory(
    clients: Clients, deployed: DeployedStack, skipped: dict[str, Any], region: str
) -> Callable[[str, str], Any]:
    def getatt(logical_id: str, attribute: str) -> Any:
        rtype = deployed.resource_types.get(logical_id) or skipped.get(logical_id, {}).get("Type")
        if logical_id in deployed.skipped:
            info = deployed.skipped[logical_id]
            if rtype == "AWS::Lambda::Url" and attribute == "FunctionUrl":
                return info["FunctionUrl"]
            return _skipped_attribute(info["Type"], info["Properties"], attribute, region)
        pid = deployed.physical_ids.get(logical_id)
        if pid is None:
            raise IntrinsicError(f"GetAtt {logical_id}.{attribute}: no such resource in the stack.")
        if rtype == "AWS::Lambda::Function" and attribute == "Arn":
            return clients.client("lambda").get_function(FunctionName=pid)["Configuration"]["FunctionArn"]
        if rtype == "AWS::SQS::Queue":
            attrs = clients.client("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])["Attributes"]
            return {"Arn": attrs["QueueArn"], "QueueName": attrs["QueueArn"].rsplit(":", 1)[1], "QueueUrl": pid}[attribute]
        if rtype == "AWS::IAM::Role" and attribute == "Arn":
            return clients.client("iam").get_role(RoleName=pid)["Role"]["Arn"]
        if rtype == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{pid}"
        if rtype == "AWS::DynamoDB::Table" and attribute == "Arn":
            return clients.client("dynamodb").describe_table(TableName=pid)["Table"]["TableArn"]
        if rtype == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{pid}:*"
        raise IntrinsicError(f"GetAtt {logical_id}.{attribute} ({rtype}) is not supported by the local cloud.")

    return getatt


# -- creators for the resource types moto's CloudFormation skips
def _create_schedule_group(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    clients.client("scheduler").create_schedule_group(Name=props["Name"])
    deployed.physical_ids[logical_id] = props["Name"]


def _create_schedule(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    args = {
        k: props[k]
        for k in (
            "Name",
            "GroupName",
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "FlexibleTimeWindow",
            "Target",
            "State",
            "Description",
            "StartDate",
            "EndDate",
        )
        if k in props
    }
    clients.client("scheduler").create_schedule(**args)
    deployed.physical_ids[logical_id] = props["Name"]


def _create_event_invoke_config(
    clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str
) -> None:
    args = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in props}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in args:
            args[key] = int(args[key])
    clients.client("lambda").put_function_event_invoke_config(FunctionName=props["FunctionName"], **args)


def _create_function_url(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    args = {"FunctionName": props["TargetFunctionArn"], "AuthType": props.get("AuthType", "AWS_IAM")}
    if "Cors" in props:
        args["Cors"] = props["Cors"]
    resp = clients.client("lambda").create_function_url_config(**args)
    deployed.skipped[logical_id]["FunctionUrl"] = resp["FunctionUrl"]


def _create_bucket_policy(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    doc = dict(props["PolicyDocument"])
    # moto evaluates bucket policies without condition keys, so a Deny conditioned on
    # aws:SecureTransport=false would deny every request: keep such statements out locally.
    doc["Statement"] = [s for s in doc.get("Statement", []) if not (s.get("Effect") == "Deny" and s.get("Condition"))]
    if doc["Statement"]:
        clients.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(doc))


def _create_queue_policy(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    for url in props.get("Queues", []):
        clients.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )


def _create_alarm(clients: Clients, props: dict[str, Any], deployed: DeployedStack, logical_id: str) -> None:
    args = dict(props)
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in args:
            args[key] = int(args[key])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    for metric in args.get("Metrics", []):
        if "Period" in metric:
            metric["Period"] = int(metric["Period"])
        if "MetricStat" in metric:
            metric["MetricStat"]["Period"] = int(metric["MetricStat"]["Period"])
    try:
        clients.client("cloudwatch").put_metric_alarm(**args)
    except Exception as exc:  # an alarm moto cannot model must not stop the local cloud
        log.warning("local cloud: alarm %s not created in moto: %s", logical_id, exc)
    deployed.physical_ids[logical_id] = props["AlarmName"]


_CREATORS: dict[str, Callable[[Clients, dict[str, Any], DeployedStack, str], None]] = {
    "AWS::Scheduler::ScheduleGroup": _create_schedule_group,
    "AWS::Scheduler::Schedule": _create_schedule,
    "AWS::Lambda::EventInvokeConfig": _create_event_invoke_config,
    "AWS::Lambda::Url": _create_function_url,
    "AWS::S3::BucketPolicy": _create_bucket_policy,
    "AWS::SQS::QueuePolicy": _create_queue_policy,
    "AWS::CloudWatch::Alarm": _create_alarm,
}
