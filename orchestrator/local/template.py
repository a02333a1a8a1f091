"""template.yaml -> the CloudFormation the local cloud creates in moto, and what moto skips.

``load_sam_template`` parses the SAM file (CloudFormation short tags included).
``translate`` turns it into plain CloudFormation with samtranslator, the same translator
`sam deploy` runs in AWS. Before translating it points every ``CodeUri``/``ContentUri`` at a
placeholder object in a staging bucket (samtranslator and moto both want S3 code), and keeps
where each function's code really is: the local cloud runs that code from disk.

``MOTO_SKIPPED_TYPES`` lists the resource types moto's CloudFormation does not create; the
local cloud creates the ones that matter through the service APIs (``local.emulation``), and
the IaC tests assert on them in the translated template.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from orchestrator.errors import StratusError
from orchestrator.plan import isolation

# Resource types the template uses that moto's CloudFormation does not implement (moto warns
# and creates nothing). The local cloud deploys these through the APIs after the stack.
MOTO_SKIPPED_TYPES = frozenset(
    {
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Scheduler::Schedule",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Url",
        "AWS::CloudWatch::Alarm",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
    }
)

STAGING_KEY_PREFIX = "stratus-local-code/"


class TemplateError(StratusError):
    """template.yaml cannot be read or translated; names the file and the problem."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the template as the local cloud runs it."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout_s: int = 3
    memory_mb: int = 128
    environment: dict[str, Any] = field(default_factory=dict)
    # A generated per-DAG worker (orchestrator.plan.isolation) is one of the "WorkerFunction" family:
    # the local cloud's timeouts, faults and invocation counts for WorkerFunction cover it too.
    family: str = ""
    isolation_group: str = ""
    log_group_ref: str = ""  # logical id of the LogGroup its LoggingConfig names, if any

    @property
    def module_file(self) -> Path:
        """The handler's module file, e.g. ``functions/worker/app.py`` for ``app.handler``."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class TranslatedTemplate:
    """CloudFormation (a dict) plus the local code of each function and layer."""

    path: Path
    cloudformation: dict[str, Any]
    functions: dict[str, FunctionSpec]
    staged_keys: dict[str, str]  # logical id -> placeholder S3 key the resource points at

    def resources_of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.cloudformation.get("Resources", {}).items() if v.get("Type") == type_name}

    @property
    def skipped_by_moto(self) -> dict[str, dict[str, Any]]:
        """Resources moto's CloudFormation will not create (``MOTO_SKIPPED_TYPES``)."""
        return {
            k: v for k, v in self.cloudformation.get("Resources", {}).items() if v.get("Type") in MOTO_SKIPPED_TYPES
        }


class _NoManagedPolicies:
    """samtranslator asks for AWS managed policy ARNs only for policies given by name."""

    def load(self) -> dict[str, str]:
        return {}


# Parsed templates by (path, mtime, size): every local cloud of a process (tests start many)
# deploys the same template.yaml, and the pure-Python YAML parse is most of a second.
_PARSED: dict[tuple[str, int, int], dict[str, Any]] = {}


def load_sam_template(path: str | Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML or JSON file; raises ``TemplateError`` naming it.

    Returns a fresh copy each time (callers change it); the parse is kept per file version.
    """
    p = Path(path)
    try:
        stat = p.stat()
        key = (str(p.resolve()), stat.st_mtime_ns, stat.st_size)
        if key in _PARSED:
            return copy.deepcopy(_PARSED[key])
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"Cannot read template {str(p)!r}: {exc.strerror}. Pass the path of template.yaml.") from exc
    try:
        parsed = _yaml_parse(text)
    except Exception as exc:  # yaml raises several types; all mean the same to the user
        raise TemplateError(f"Template {str(p)!r} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(parsed, dict) or "Resources" not in parsed:
        raise TemplateError(f"Template {str(p)!r} has no 'Resources' section.")
    if len(_PARSED) >= 64:
        _PARSED.clear()
    _PARSED[key] = copy.deepcopy(parsed)
    return parsed


def _yaml_parse(text: str) -> Any:
    """YAML/JSON with CloudFormation's short tags: samtranslator's parser, else (``stratus deploy``
    without the local extra) PyYAML with the tags mapped the same way."""
    try:
        from samtranslator.yaml_helper import yaml_parse  # imported by the deploy that needs it (local.deploycache)
    except ModuleNotFoundError:
        return _light_parse(text)
    return yaml_parse(text)


def _light_parse(text: str) -> Any:
    """PyYAML with CloudFormation's short tags mapped as samtranslator maps them."""
    import yaml

    # libyaml's parser when PyYAML has it (the same documents, several times faster than the
    # pure-Python one: a fresh ``stratus run`` reads the template before every run).
    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    def tag(loader: Any, suffix: str, node: Any) -> Any:
        value = (loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else
                 loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode) else
                 loader.construct_mapping(node, deep=True))
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        return {("Condition" if suffix == "Condition" else f"Fn::{suffix}"): value}

    _Loader.add_multi_constructor("!", tag)
    loader = _Loader(text)  # a SafeLoader with only the CloudFormation tags added
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _merged_function_props(props: Mapping[str, Any], globals_fn: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = copy.deepcopy(dict(globals_fn))
    for key, value in props.items():
        if key == "Environment" and "Environment" in merged:
            env = dict(merged["Environment"].get("Variables", {}))
            env.update(value.get("Variables", {}))
            merged["Environment"] = {"Variables": env}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def translate(
    path: str | Path,
    *,
    staging_bucket: str,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    code_root: str | Path | None = None,
    isolation_groups: list[isolation.IsolationGroup] | None = None,
    stack_name: str = "stratus-local",
) -> TranslatedTemplate:
    """Translate a SAM template for local deployment (code pointed at ``staging_bucket``).

    ``parameters`` override the template's parameter defaults; ``code_root`` is the folder
    ``CodeUri`` paths are relative to (default: the template's folder). With ``isolation_groups``
    (``isolation.groups_in_folder`` of the DAG folder) the template gets the per-DAG worker
    functions and roles ``stratus deploy`` adds (``Isolation=dag``, the default:
    ``orchestrator.plan.isolation.expand_template``). Raises ``TemplateError`` if
    samtranslator rejects the template (its message lists every problem).
    """
    p = Path(path).resolve()
    sam = load_sam_template(p)
    if isolation_groups is not None:
        sam = isolated(sam, isolation_groups, stack_name=stack_name, parameters=parameters)
    base = Path(code_root).resolve() if code_root else p.parent
    globals_fn = sam.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    staged: dict[str, str] = {}
    for logical_id, resource in sam["Resources"].items():
        rtype = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if rtype == "AWS::Serverless::Function":
            merged = _merged_function_props(props, globals_fn)
            code_uri = merged.get("CodeUri")
            if not isinstance(code_uri, str):
                raise TemplateError(
                    f"Function {logical_id!r} in {str(p)!r} needs a literal local CodeUri (a folder) to run locally."
                )
            env = merged.get("Environment", {}).get("Variables", {})
            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=(base / code_uri).resolve(),
                handler=str(merged.get("Handler", "app.handler")),
                timeout_s=_int_or(_param_value(merged.get("Timeout"), sam, parameters), 3),
                memory_mb=_int_or(_param_value(merged.get("MemorySize"), sam, parameters), 128),
                environment=copy.deepcopy(env),
                family="WorkerFunction" if isolation.METADATA_KEY in resource.get("Metadata", {}) else "",
                isolation_group=str(resource.get("Metadata", {}).get(isolation.METADATA_KEY, "")),
                log_group_ref=_ref_name(merged.get("LoggingConfig", {}).get("LogGroup")),
            )
            staged[logical_id] = f"{STAGING_KEY_PREFIX}{logical_id}.zip"
            props["CodeUri"] = f"s3://{staging_bucket}/{staged[logical_id]}"
        elif rtype == "AWS::Serverless::LayerVersion":
            staged[logical_id] = f"{STAGING_KEY_PREFIX}{logical_id}.zip"
            props["ContentUri"] = f"s3://{staging_bucket}/{staged[logical_id]}"
    if "CodeUri" in globals_fn:
        del globals_fn["CodeUri"]
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    try:
        values = dict(parameters or {})
        to_py27_compatible_template(sam, values)
        session = boto3.session.Session(region_name=region)
        translator = Translator(None, Parser(), boto_session=session)
        cfn = undo_mark_unicode_str_in_template(
            translator.translate(sam, parameter_values=values, get_managed_policy_map=_NoManagedPolicies().load)
        )
    except Exception as exc:  # samtranslator's InvalidDocumentException and friends
        causes = getattr(exc, "causes", None) or []
        details = "; ".join(str(getattr(c, "message", c)) for c in causes) or str(exc)
        raise TemplateError(f"samtranslator rejected {str(p)!r}: {details}") from exc
    return TranslatedTemplate(path=p, cloudformation=cfn, functions=functions, staged_keys=staged)


def isolation_groups(path: str | Path, dags_root: str | Path,
                     parameters: Mapping[str, str] | None = None) -> list[isolation.IsolationGroup] | None:
    """The isolation groups of the DAG folder when the template deploys with Isolation=dag, else None."""
    try:
        if isolation.mode_of({"Parameters": _parameters_section(Path(path).read_text(encoding="utf-8"))},
                             parameters) != "dag":
            return None
        return isolation.groups_in_folder(str(dags_root))
    except isolation.IsolationError as exc:
        raise TemplateError(str(exc)) from exc


def _parameters_section(text: str) -> Any:
    """The template's ``Parameters``: parsed without samtranslator (a restored deploy imports none)
    and kept beside the deploy by the text's digest (45 KB of YAML for one default: 7 ms of every
    fresh ``stratus run``). An unreadable template raises as it parses, and nothing is kept."""
    from orchestrator.local import deploycache

    name = f"template-parameters-{hashlib.sha256(text.encode()).hexdigest()[:40]}.pickle"
    kept = deploycache.read_private(name) if deploycache.enabled() else None
    if isinstance(kept, dict):
        return kept
    parsed = _light_parse(text)
    section = parsed.get("Parameters") if isinstance(parsed, dict) else None
    section = section if isinstance(section, dict) else {}
    if deploycache.enabled():
        deploycache.write_private_value(name, section)
    return section


def isolated(sam: dict[str, Any], groups: list[isolation.IsolationGroup], *, stack_name: str,
             parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``sam`` with the per-DAG workers of ``groups`` (unchanged with Isolation=shared)."""
    try:
        return isolation.expand_template(sam, groups, stack_name=stack_name, parameters=parameters)
    except isolation.IsolationError as exc:
        raise TemplateError(str(exc)) from exc


def _ref_name(value: Any) -> str:
    return str(value["Ref"]) if isinstance(value, dict) and set(value) == {"Ref"} else ""


def _param_value(value: Any, sam: Mapping[str, Any], overrides: Mapping[str, str] | None) -> Any:
    """A literal, or the value of a ``!Ref`` to a template parameter (override, else default)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if overrides and name in overrides:
            return overrides[name]
        return sam.get("Parameters", {}).get(name, {}).get("Default")
    return value


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
