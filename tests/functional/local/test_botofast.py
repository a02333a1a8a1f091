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
