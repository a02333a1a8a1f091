"""``local.speedups.botofast``: each request still carries the User-Agent botocore would build for it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.context import start_as_current_context
from botocore.useragent import UserAgentString, register_feature_id

from orchestrator.local.speedups import botofast


@pytest.fixture
def user_agent() -> Any:
    botofast.install()
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                                            aws_secret_access_key="y")
    return client._user_agent_creator


def _built(ua: Any) -> str:
    return UserAgentString.to_string.__wrapped__(ua)  # type: ignore[attr-defined,no-any-return]


def test_the_kept_string_is_the_one_botocore_builds(user_agent: Any) -> None:
    assert user_agent.to_string() == _built(user_agent)
    assert user_agent.to_string() == _built(user_agent)  # the kept one, the second time


def test_request_features_give_their_own_string(user_agent: Any) -> None:
    plain = user_agent.to_string()
    with start_as_current_context():
        register_feature_id("PAGINATOR")
        with_feature = user_agent.to_string()
        assert with_feature == _built(user_agent)
    assert with_feature != plain
    assert user_agent.to_string() == plain


def test_a_changed_attribute_gives_a_new_string(user_agent: Any) -> None:
    before = user_agent.to_string()
    user_agent.set_session_config("my-tool", "1.0", None)
    assert user_agent.to_string() == _built(user_agent)
    assert user_agent.to_string() != before


# -- the loader's results kept on disk between processes
_LOAD = """
import json, sys
from botocore.loaders import Loader
from orchestrator.local.speedups import botofast
if sys.argv[1] == "fast":
    botofast.install()
loader = Loader(extra_search_paths=sys.argv[2:])
model = loader.load_service_model("dynamodb", "service-2")
print(json.dumps({"model": model, "services": loader.list_available_services("service-2"),
                  "extra": loader.load_service_model("stratustest", "service-2")
                  if "stratustest" in loader.list_available_services("service-2") else None}))
"""


def _load(mode: str, cache: Any, *extra: str) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "STRATUS_CACHE_DIR": str(cache)}
    env.pop("STRATUS_DEPLOY_CACHE", None)
    done = subprocess.run([sys.executable, "-c", _LOAD, mode, *extra], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _model(folder: Any, version: str) -> None:
    import json

    path = folder / "stratustest" / "2026-01-01"
    path.mkdir(parents=True, exist_ok=True)
    (path / "service-2.json").write_text(json.dumps({
        "version": "2.0", "metadata": {"apiVersion": "2026-01-01", "endpointPrefix": "stratustest",
                                       "protocol": "json", "serviceId": "stratustest", "documentation": version},
        "operations": {}, "shapes": {}}))


def test_kept_models_are_botocore_s_own_and_an_added_or_changed_model_is_read_afresh(tmp_path: Any) -> None:
    cache, extra = tmp_path / "cache", tmp_path / "models"
    extra.mkdir()
    plain = _load("plain", cache, str(extra))
    first = _load("fast", cache, str(extra))  # loads from botocore and keeps
    assert list((cache / "deploy").glob("botocore-*.pickle"))
    assert _load("fast", cache, str(extra)) == first == plain  # the second process reads what was kept
    assert plain["extra"] is None
    _model(extra, "one")  # a model added to a search path
    added = _load("fast", cache, str(extra))
    assert added["extra"]["metadata"]["documentation"] == "one" and "stratustest" in added["services"]
    _model(extra, "two, a longer text")  # and changed
    assert _load("fast", cache, str(extra))["extra"]["metadata"]["documentation"] == "two, a longer text"


def test_event_aliases_kept_for_the_process_are_botocore_s_own() -> None:
    from botocore import hooks

    botofast.install()
    kept = hooks.EventAliaser._alias_event_name
    own = kept.__wrapped__  # type: ignore[attr-defined]
    names = ["before-call.apigateway", "creating-client-class.s3", "before-parameter-build.s3.PutObject",
             "needs-retry.dynamodb.TransactWriteItems", "docs.request-params.elasticloadbalancingv2.Create",
             "before-call.cloudsearchdomain.Search", "provide-client-params.lambda.Invoke"]
    for name in names:
        fresh = hooks.EventAliaser(hooks.HierarchicalEmitter())
        assert kept(fresh, name) == own(hooks.EventAliaser(hooks.HierarchicalEmitter()), name)
        assert kept(fresh, name) == kept(hooks.EventAliaser(hooks.HierarchicalEmitter()), name)  # from the kept table
    # an emitter with its own alias table is answered from that table
    custom = hooks.EventAliaser(hooks.HierarchicalEmitter(), event_aliases={"lambda": "awslambda"})
    assert kept(custom, "provide-client-params.lambda.Invoke") == "provide-client-params.awslambda.Invoke"
    assert kept(hooks.EventAliaser(hooks.HierarchicalEmitter()), "provide-client-params.lambda.Invoke") \
        == "provide-client-params.lambda.Invoke"
