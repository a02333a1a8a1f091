"""The deployed stack kept on disk (``local.deploycache``): restored exactly, never stale.

A fresh process restores what the first deploy made instead of translating and deploying
again; it must see the very same cloud (tables, buckets, queues, functions and their
configuration, rules, schedules, roles), must not import moto's CloudFormation or
samtranslator, and must deploy again whenever anything the deploy depends on changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local import deploycache
from orchestrator.local.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"

# What a deploy leaves in moto, read through the APIs (the same calls in both processes).
OBSERVE = """
def observe(clients):
    ddb, s3, sqs, lam = (clients.client(n) for n in ("dynamodb", "s3", "sqs", "lambda"))
    out = {"tables": {}, "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]), "queues": {},
           "functions": {}, "mappings": [], "rules": [], "schedules": [], "roles": [], "groups": []}
    for name in ddb.list_tables()["TableNames"]:
        out["tables"][name] = [ddb.describe_table(TableName=name)["Table"],
                               ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]]
    for url in sqs.list_queues().get("QueueUrls", []):
        out["queues"][url] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for fn in lam.list_functions()["Functions"]:
        try:
            invoke = lam.get_function_event_invoke_config(FunctionName=fn["FunctionName"])
            invoke.pop("ResponseMetadata", None)
        except lam.exceptions.ResourceNotFoundException:
            invoke = None
        out["functions"][fn["FunctionName"]] = [fn, invoke]
    out["mappings"] = lam.list_event_source_mappings()["EventSourceMappings"]
    out["rules"] = clients.client("events").list_rules()["Rules"]
    out["schedules"] = clients.client("scheduler").list_schedules()["Schedules"]
    out["roles"] = sorted(r["RoleName"] for r in clients.client("iam").list_roles()["Roles"])
    out["groups"] = sorted(g["logGroupName"] for g in clients.client("logs").describe_log_groups()["logGroups"])
    kms = clients.client("kms")
    out["kms"] = {}
    for key in kms.list_keys()["Keys"]:  # a restored private key is loaded from its PEM when first used
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        try:
            public = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"].hex()
        except kms.exceptions.ClientError as exc:
            public = exc.response["Error"]["Code"]
        out["kms"][key["KeyId"]] = [meta, public]
    return json.loads(json.dumps(out, default=str, sort_keys=True))


def iam_check(cloud):
    return {name: [role.name, role.documents] for name, role in sorted(cloud.iam.roles.items())}
"""
_ns: dict[str, Any] = {"json": json}
exec(OBSERVE, _ns)  # noqa: S102 - the same source runs in the subprocess below
observe, iam_check = _ns["observe"], _ns["iam_check"]


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    cache = tmp_path_factory.mktemp("cache")
    dags = tmp_path_factory.mktemp("dags")
    old = os.environ.get(deploycache.ENV_DIR)
    os.environ[deploycache.ENV_DIR] = str(cache)
    try:
        with LocalCloud(dags, template=TEMPLATE) as cloud:
            assert cloud.restored is False  # nothing kept yet: deployed for real
            state = observe(cloud.clients)
            state["iam_check"] = json.loads(json.dumps(iam_check(cloud), sort_keys=True))
            assert state["kms"] and state["iam_check"]  # a key (Lambda's) and every function's role
    finally:
        if old is None:
            os.environ.pop(deploycache.ENV_DIR, None)
        else:
            os.environ[deploycache.ENV_DIR] = old
    assert len(list((cache / "deploy").glob("stack-*.pickle"))) == 1
    return cache, dags, state


def test_a_fresh_process_restores_the_same_cloud_without_cloudformation(kept: Any) -> None:
    cache, dags, state = kept
    script = textwrap.dedent(f"""
        import json, sys
        from orchestrator.local.cloud import LocalCloud
        {textwrap.indent(OBSERVE, "        ").strip()}
        with LocalCloud({str(dags)!r}, template={str(TEMPLATE)!r}) as cloud:
            state = observe(cloud.clients)
            state["iam_check"] = json.loads(json.dumps(iam_check(cloud), sort_keys=True))
            restored = cloud.restored
        heavy = sorted(m for m in sys.modules if m.startswith(("moto.cloudformation", "samtranslator", "moto.ec2")))
        print(json.dumps({{"restored": restored, "heavy": heavy, "state": state}}))
    """)
    env = {**os.environ, deploycache.ENV_DIR: str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["restored"] is True
    assert result["heavy"] == []
    assert _differences(result["state"], state) == []


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _key(**changes: Any) -> str:
    args: dict[str, Any] = {"template": TEMPLATE, "parameters": {}, "region": "us-east-1", "stack_name": "s",
                            "code_root": None, "dags_root": Path("/d"), "staging_bucket": "s-staging"}
    args.update(changes)
    return deploycache.key_of(**args)


def test_any_input_of_the_deploy_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _key()
    assert _key() == base
    edited = tmp_path / "template.yaml"
    edited.write_bytes(TEMPLATE.read_bytes() + b"\n# an edit\n")
    others = [
        _key(template=edited), _key(parameters={"DagsPath": "x"}), _key(region="eu-west-1"), _key(stack_name="t"),
        _key(code_root=tmp_path), _key(dags_root=tmp_path), _key(staging_bucket="other"),
    ]
    real = deploycache._version
    monkeypatch.setattr(deploycache, "_version", lambda dist: "9.9.9" if dist == "moto" else real(dist))
    others.append(_key())
    monkeypatch.setattr(deploycache, "_version", real)
    monkeypatch.setattr(deploycache, "_SOURCES", deploycache._SOURCES[:-1])  # a deploy module's source is hashed
    others.append(_key())
    assert len({base, *others}) == len(others) + 1


def test_a_damaged_or_foreign_file_is_never_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(deploycache.ENV_DIR, str(tmp_path))
    key = _key()
    path = deploycache.save(key, translated={"t": 1}, stack={"s": 2}, account_id="000000000000")
    assert path is not None and deploycache.load(key)["stack"] == {"s": 2}
    folder = tmp_path / "deploy"
    assert folder.stat().st_mode & 0o777 == 0o700 and (folder / "key").stat().st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # one bit changed
    assert deploycache.load(key) is None
    import pickle

    forged = pickle.dumps({"format": deploycache.FORMAT, "key": key, "translated": 0, "stack": 0, "backends": {}})
    path.write_bytes(b"\0" * 32 + forged)  # a pickle this user's runs did not write
    assert deploycache.load(key) is None
    path.write_bytes(raw)
    assert deploycache.load(key) is not None
    folder.chmod(0o777)  # anyone may write there: nothing in it is trusted
    assert deploycache.load(key) is None
    folder.chmod(0o700)
    path.write_bytes(b"short")
    assert deploycache.load(key) is None


def test_switched_off_by_env_and_in_server_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert LocalCloud(tmp_path, server=True).deploy_cache is False
    assert LocalCloud(tmp_path).deploy_cache is True
    monkeypatch.setenv(deploycache.ENV_SWITCH, "0")
    assert LocalCloud(tmp_path).deploy_cache is False


def test_the_isolation_mode_comes_from_parameters_kept_by_the_template_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.local import template

    monkeypatch.setenv(deploycache.ENV_DIR, str(tmp_path / "cache"))
    parsed: list[str] = []
    real = template._light_parse
    monkeypatch.setattr(template, "_light_parse", lambda text: parsed.append(text) or real(text))
    path = tmp_path / "template.yaml"
    dags = tmp_path / "dags"
    dags.mkdir()
    path.write_text("Parameters:\n  Isolation:\n    Type: String\n    Default: shared\nResources: {}\n")
    assert template.isolation_groups(path, dags) is None
    assert template.isolation_groups(path, dags) is None
    assert len(parsed) == 1  # the second read came from the kept parameters
    assert template.isolation_groups(path, dags, {"Isolation": "dag"}) == []  # an override still wins
    path.write_text("Parameters:\n  Isolation:\n    Type: String\n    Default: dag\nResources: {}\n")
    assert template.isolation_groups(path, dags) == []  # an edited template is parsed again
    assert len(parsed) == 2
    path.write_text("Parameters: [unclosed\n")
    import yaml

    with pytest.raises(yaml.YAMLError):  # a template that does not parse fails as before, and nothing is kept
        template.isolation_groups(path, dags)
    monkeypatch.setenv(deploycache.ENV_SWITCH, "0")
    path.write_text("Parameters:\n  Isolation:\n    Default: dag\n")
    template.isolation_groups(path, dags)
    template.isolation_groups(path, dags)
    assert len(parsed) == 5  # off with the deploy cache: parsed every time
