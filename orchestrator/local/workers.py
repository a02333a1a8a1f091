"""Per-DAG workers of DAGs added to the folder after the local cloud deployed (``Isolation=dag``).

On AWS a DAG added since the deploy gets its worker function and role at the next
``stratus deploy`` (``stratus sync`` refuses it until then). ``stratus dev`` and the tests add
DAG files while the local cloud runs, so before each sync the local cloud does what that
deploy would: it translates the template with the folder's groups as they are now, creates
the new groups' roles, functions and event invoke configurations through the APIs (resolved
against the deployed stack, as ``local.stack`` resolves what moto's CloudFormation skips) and
updates the role policy of a group whose DAGs or assets changed. The IAM check and the
function host learn the new functions at once.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from orchestrator import constants as c
from orchestrator.local import functions, iam
from orchestrator.local.intrinsics import NO_VALUE, Resolver
from orchestrator.local.stack import ACCOUNT_ID, _getatt_factory, _parameter_values, _ref, pseudo_parameters

if TYPE_CHECKING:
    from orchestrator.local.cloud import LocalCloud

log = logging.getLogger(__name__)


def deploy_new_workers(cloud: LocalCloud) -> list[str]:
    """Create the workers of new groups, refresh changed groups' role policies; returns the new functions."""
    from orchestrator.local.template import isolation_groups, translate

    groups = isolation_groups(cloud.template_path, cloud.dags_root, cloud.parameters)
    if not groups:
        return []
    known = {spec.isolation_group: name for name, spec in cloud.host.functions.items() if spec.isolation_group}
    deployed = cloud.__dict__.setdefault("_isolation_groups", {})
    if not deployed:  # what the deploy made, from the template it translated
        deployed.update({g.name: g for g in (cloud.deployed_groups or [])})
    changed = [g for g in groups if g.name not in known or deployed.get(g.name) != g]
    if not changed:
        return []
    translated = translate(cloud.template_path, staging_bucket=f"{cloud.stack_name}-staging"[:63].lower(),
                           parameters=cloud.parameters, region=cloud.region, code_root=cloud.code_root,
                           isolation_groups=groups, stack_name=cloud.stack_name)
    cfn = translated.cloudformation
    values = {**_parameter_values(cfn, cloud.parameters), **pseudo_parameters(cloud.stack_name, cloud.region)}
    resolver = Resolver(parameters=values, ref=lambda name: _ref(cloud.stack, {}, name, cloud.region),
                        getatt=_getatt_factory(cloud.clients, cloud.stack, {}, cloud.region),
                        conditions=cfn.get("Conditions"))
    created = []
    # No MOTO_LOCK around these calls: under `stratus dev` they go over HTTP to the moto server's
    # own thread, which takes that lock for each request (held here, every call waited to its timeout).
    for group in changed:
        stem = group.logical_stem
        if group.name in known:
            _put_policies(cloud, resolver.resolve(cfn["Resources"][f"{stem}Role"]["Properties"]),
                          cloud.stack.physical_ids[f"{stem}Role"])
        else:
            created.append(_create(cloud, translated, resolver, stem))
        deployed[group.name] = group
    cloud.refresh_functions(created, changed_roles=True)
    return created


def covers(cloud: LocalCloud, dag_id: str, dag: Any) -> bool:
    """Whether the deployed workers already run ``dag`` as it is now (or DAGs are not isolated)."""
    from orchestrator.plan.isolation import _declared_assets, isolation_group

    if cloud.deployed_groups is None:
        return True
    deployed = cloud.__dict__.get("_isolation_groups") or {g.name: g for g in cloud.deployed_groups}
    group = deployed.get(isolation_group(dag_id, list(getattr(dag, "tags", None) or [])))
    declared = {u for u in _declared_assets(dag) if "*" not in u and "?" not in u}  # as groups_of keeps them
    return group is not None and dag_id in group.dag_ids and declared <= set(group.assets)


def _put_policies(cloud: LocalCloud, props: dict[str, Any], role_name: str) -> None:
    client = cloud.clients.client("iam")
    for policy in props.get("Policies", []):
        client.put_role_policy(RoleName=role_name, PolicyName=policy["PolicyName"],
                               PolicyDocument=json.dumps(policy["PolicyDocument"]))
    managed = props.get("ManagedPolicyArns")
    cloud.stack.managed_policies[role_name] = [str(a) for a in (managed if isinstance(managed, list) else [])
                                               if a is not NO_VALUE]


def _create(cloud: LocalCloud, translated: Any, resolver: Resolver, stem: str) -> str:
    cfn = translated.cloudformation["Resources"]
    role_props = resolver.resolve(cfn[f"{stem}Role"]["Properties"])
    role_name = f"{cloud.stack_name}-{stem}Role-local"[:64]
    client = cloud.clients.client("iam")
    role_arn = client.create_role(RoleName=role_name,
                                  AssumeRolePolicyDocument=json.dumps(role_props["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    cloud.stack.physical_ids[f"{stem}Role"] = role_name
    cloud.stack.resource_types[f"{stem}Role"] = "AWS::IAM::Role"
    _put_policies(cloud, role_props, role_name)
    fn = resolver.resolve({k: v for k, v in cfn[f"{stem}Function"]["Properties"].items() if k != "Role"})
    lam = cloud.clients.client("lambda")
    lam.create_function(FunctionName=fn["FunctionName"], Runtime=fn["Runtime"], Role=role_arn, Handler=fn["Handler"],
                        Code=fn["Code"], Timeout=int(fn.get("Timeout", 3)), MemorySize=int(fn.get("MemorySize", 128)),
                        Environment={"Variables": {k: str(v) for k, v in fn.get("Environment", {}).get("Variables", {}).items()}})
    cloud.stack.physical_ids[f"{stem}Function"] = fn["FunctionName"]
    cloud.stack.resource_types[f"{stem}Function"] = "AWS::Lambda::Function"
    config = cfn.get(f"{stem}FunctionEventInvokeConfig")
    if config is not None:
        props = resolver.resolve(config["Properties"])
        args = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in props}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in args:
                args[key] = int(args[key])
        lam.put_function_event_invoke_config(FunctionName=fn["FunctionName"], **args)
    cloud.translated.functions[f"{stem}Function"] = translated.functions[f"{stem}Function"]
    log.info("local cloud: created worker %s for a DAG added since the deploy", fn["FunctionName"])
    return str(fn["FunctionName"])


def register_functions(cloud: LocalCloud, created: list[str], *, changed_roles: bool = False) -> None:
    """Host, route and authorise functions created after the deploy; re-read the workers' roles."""
    lam = cloud.clients.client("lambda")
    by_name = {v: k for k, v in cloud.stack.physical_ids.items()}
    for name in created:
        config = lam.get_function(FunctionName=name)["Configuration"]
        spec = cloud.translated.functions[by_name[name]]
        cloud.host.functions[name] = spec
        cloud.host.arns[name] = config["FunctionArn"]
        cloud.host.invocations.setdefault(name, 0)
        if spec.log_group_ref:
            cloud.host.log_groups[name] = cloud.stack.physical_ids.get(spec.log_group_ref, "")
        cloud.emulation.function_names[config["FunctionArn"]] = name
    functions.register(cloud.host)
    if cloud.iam is not None and (created or changed_roles):
        workers = {n: lam.get_function(FunctionName=n)["Configuration"]["Role"]
                   for n, spec in cloud.host.functions.items() if spec.family == c.WORKER}
        cloud.iam.roles.update(role_policies(cloud, workers))
        cloud.iam.forget()


def role_policies(cloud: LocalCloud, roles: dict[str, str]) -> dict[str, iam.RolePolicies]:
    """The IAM check's view of these functions' roles (name -> role ARN), read back from moto."""
    from orchestrator.local.cloud import _table_hash_keys

    check = iam.IamCheck.from_stack(cloud.clients, roles, account=ACCOUNT_ID,
                                    hash_keys=_table_hash_keys(cloud.translated, cloud.stack),
                                    managed=cloud.stack.managed_policies)
    return check.roles
