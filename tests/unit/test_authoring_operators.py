from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator import (
    DAG,
    Asset,
    BaseOperator,
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
    TriggerRule,
    chain,
    cross_downstream,
)
from orchestrator.errors import DagDefinitionError

AIRFLOW3_TRIGGER_RULES = {
    "all_success", "all_failed", "all_done", "all_done_min_one_success", "all_done_setup_success",
    "one_success", "one_failed", "one_done", "none_failed", "none_skipped", "always",
    "none_failed_min_one_success", "all_skipped",
}


class CopyOperator(BaseOperator):
    template_fields = ("source", "target")

    def __init__(self, *, source, target, **kwargs):
        super().__init__(**kwargs)
        self.source = source
        self.target = target

    def execute(self, context):
        return f"{self.source}->{self.target}"


def ups(d, tid):
    return d.task_dict[tid].upstream_task_ids


def test_trigger_rule_enum_is_airflow3_list():
    assert {r.value for r in TriggerRule} == AIRFLOW3_TRIGGER_RULES
    assert TriggerRule.ALL_DONE == "all_done"
    assert str(TriggerRule.ONE_FAILED) == "one_failed"


@pytest.mark.parametrize("rule", sorted(AIRFLOW3_TRIGGER_RULES))
def test_every_trigger_rule_is_accepted(rule):
    with DAG("tr"):
        op = EmptyOperator(task_id="t", trigger_rule=rule)
    assert op.trigger_rule.value == rule


def test_shift_operators_and_lists():
    with DAG("deps") as d:
        a, b, c, e = (EmptyOperator(task_id=x) for x in "abce")
        a >> [b, c] >> e
        e << EmptyOperator(task_id="z")
        [EmptyOperator(task_id="l1"), EmptyOperator(task_id="l2")] << a
    assert ups(d, "b") == {"a"} and ups(d, "c") == {"a"}
    assert ups(d, "e") == {"b", "c", "z"}
    assert ups(d, "l1") == {"a"} and ups(d, "l2") == {"a"}


def test_set_upstream_and_downstream():
    with DAG("deps") as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        b.set_upstream(a)
        b.set_downstream([c])
    assert ups(d, "b") == {"a"} and ups(d, "c") == {"b"}
    assert [t.task_id for t in d.task_dict["b"].upstream_list] == ["a"]
    assert [t.task_id for t in d.task_dict["b"].downstream_list] == ["c"]


def test_chain_with_lists_pairwise():
    with DAG("chain") as d:
        a, b1, b2, c1, c2, e = (EmptyOperator(task_id=x) for x in ["a", "b1", "b2", "c1", "c2", "e"])
        chain(a, [b1, b2], [c1, c2], e)
    assert ups(d, "b1") == {"a"} and ups(d, "b2") == {"a"}
    assert ups(d, "c1") == {"b1"} and ups(d, "c2") == {"b2"}
    assert ups(d, "e") == {"c1", "c2"}


def test_chain_rejects_unequal_lists():
    with DAG("chain"):
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        with pytest.raises(DagDefinitionError, match="adjacent lists of different lengths"):
            chain([a, b], [c])


def test_cross_downstream():
    with DAG("cross") as d:
        a, b, c, e = (EmptyOperator(task_id=x) for x in "abce")
        cross_downstream([a, b], [c, e])
    assert ups(d, "c") == {"a", "b"} and ups(d, "e") == {"a", "b"}


def test_shift_with_garbage_is_a_clear_error():
    with DAG("bad"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(DagDefinitionError, match="Cannot set a dependency on 'b'"):
            a >> "b"


def test_retry_settings_and_timeouts_from_numbers_or_timedeltas():
    with DAG("r"):
        op = EmptyOperator(task_id="t", retries=2, retry_delay=5, retry_exponential_backoff=True,
                           max_retry_delay=timedelta(minutes=2), execution_timeout=30)
    assert op.retry_delay == timedelta(seconds=5)
    assert op.max_retry_delay == timedelta(minutes=2)
    assert op.execution_timeout == timedelta(seconds=30)
    assert op.retry_exponential_backoff is True


def test_bad_retry_delay_type():
    with DAG("r"):
        with pytest.raises(DagDefinitionError, match="retry_delay must be a timedelta or a number of seconds"):
            EmptyOperator(task_id="t", retry_delay="5m")


def test_lambda_timeout_from_timedelta_rounds_up():
    with DAG("l"):
        op = EmptyOperator(task_id="t", lambda_timeout=timedelta(seconds=10.2))
    assert op.lambda_timeout == 11


def test_operators_take_keyword_arguments_only():
    with DAG("kw"):
        with pytest.raises(DagDefinitionError, match=r"EmptyOperator takes keyword arguments only"):
            EmptyOperator("t")


def test_custom_operator_template_fields_and_xcom_dependency():
    with DAG("custom") as d:
        src = PythonOperator(task_id="src", python_callable=lambda: "s3://a/b")
        cp = CopyOperator(task_id="copy", source=src.output, target="s3://x/{{ ds }}")
    assert cp.upstream_task_ids == {"src"}
    assert d.task_dict["copy"] is cp


def test_custom_operator_line_is_the_instantiation_line():
    import inspect

    with DAG("custom"):
        line = inspect.currentframe().f_lineno + 1
        cp = CopyOperator(task_id="copy", source="a", target="b")
    assert cp.lineno == line


def test_custom_operator_unknown_argument():
    with DAG("custom"):
        with pytest.raises(DagDefinitionError, match=r"CopyOperator got unexpected argument\(s\): colour"):
            CopyOperator(task_id="copy", source="a", target="b", colour="red")


def test_branch_and_short_circuit_operators():
    with DAG("ops"):
        b = BranchPythonOperator(task_id="b", python_callable=lambda: "x")
        s = ShortCircuitOperator(task_id="s", python_callable=lambda: True, ignore_downstream_trigger_rules=False)
        e = EmptyOperator(task_id="e")
    assert (b._step_kind, s._step_kind, e._step_kind) == ("branch", "short_circuit", "empty")
    assert s.ignore_downstream_trigger_rules is False


def test_python_operator_requires_a_callable():
    with DAG("ops"):
        with pytest.raises(DagDefinitionError, match="python_callable must be callable"):
            PythonOperator(task_id="p", python_callable="nope")


def test_outlets_must_be_assets():
    with DAG("ops"):
        op = EmptyOperator(task_id="ok", outlets=[Asset("s3://bucket-a/x/")])
        assert op.outlets == [Asset("s3://bucket-a/x/")]
        with pytest.raises(DagDefinitionError, match=r"outlets must be Asset\(...\) objects"):
            EmptyOperator(task_id="bad", outlets=["s3://bucket-a/x/"])


def test_callbacks_listed():
    with DAG("cb"):
        op = EmptyOperator(task_id="t", on_failure_callback=print, on_retry_callback=[print])
    assert op.callbacks == ["on_failure_callback", "on_retry_callback"]


def test_invalid_task_id():
    with DAG("ids"):
        with pytest.raises(DagDefinitionError, match=r"task_id 'a b' may only contain"):
            EmptyOperator(task_id="a b")


def test_task_level_params_are_kept_as_params_and_a_non_dict_is_explained():
    with DAG("p"):
        op = EmptyOperator(task_id="t", params={"a": 1})
        assert op.params["a"].value == 1
        with pytest.raises(DagDefinitionError, match=r"params must be a dict of names to values or Param\(\.\.\.\)"):
            EmptyOperator(task_id="u", params=[1])
