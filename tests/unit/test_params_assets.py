from __future__ import annotations

import pytest

from orchestrator import Asset, AssetAll, AssetAny, Param
from orchestrator.authoring.assets import asset_matches, asset_uri_problem
from orchestrator.errors import DagDefinitionError, ParamValidationError
from orchestrator.plan.model import ParamSpec
from orchestrator.plan.params import resolve_params, schema_problem, spec_of, value_problem


def specs(**params):
    return {name: spec_of(p) for name, p in params.items()}


def test_resolve_defaults_and_conf_override():
    s = specs(n=Param(5, type="integer", minimum=1), name=Param("x", type="string"))
    assert resolve_params(s, None, dag_id="d") == {"n": 5, "name": "x"}
    assert resolve_params(s, {"n": 9, "extra": True}, dag_id="d") == {"n": 9, "name": "x", "extra": True}


def test_resolve_rejects_wrong_type_naming_dag_and_param():
    s = specs(n=Param(5, type="integer"))
    with pytest.raises(ParamValidationError, match=r"Param 'n' of DAG 'd': 'five' is not of type 'integer'"):
        resolve_params(s, {"n": "five"}, dag_id="d")


def test_resolve_enum_minimum_maximum_pattern():
    s = specs(
        env=Param("dev", enum=["dev", "prod"]),
        n=Param(1, type="integer", minimum=1, maximum=3),
        code=Param("AB", type="string", pattern="^[A-Z]+$"),
    )
    with pytest.raises(ParamValidationError, match=r"'qa' is not one of \['dev', 'prod'\]"):
        resolve_params(s, {"env": "qa"}, dag_id="d")
    with pytest.raises(ParamValidationError, match="4 is greater than the maximum of 3"):
        resolve_params(s, {"n": 4}, dag_id="d")
    with pytest.raises(ParamValidationError, match="does not match"):
        resolve_params(s, {"code": "ab"}, dag_id="d")


def test_required_param_without_default():
    s = specs(must=Param(type="string"))
    assert s["must"].has_default is False
    with pytest.raises(ParamValidationError, match=r"Param 'must' of DAG 'd' has no default and the run's conf does not set it"):
        resolve_params(s, {}, dag_id="d")
    assert resolve_params(s, {"must": "ok"}, dag_id="d") == {"must": "ok"}


def test_all_problems_reported_together():
    s = specs(a=Param(1, type="integer"), b=Param("x", type="string"))
    with pytest.raises(ParamValidationError) as info:
        resolve_params(s, {"a": "x", "b": 1}, dag_id="d")
    assert "Param 'a'" in str(info.value) and "Param 'b'" in str(info.value)


def test_param_spec_round_trip_and_resolve():
    spec = spec_of(Param(3, description="count", type=["integer", "null"]))
    assert ParamSpec.model_validate_json(spec.model_dump_json(by_alias=True)) == spec
    assert spec.type == ["integer", "null"]
    assert Param(3, type="integer").resolve() == 3
    with pytest.raises(ParamValidationError):
        Param(3, type="integer").resolve("x", name="n", dag_id="d")


def test_schema_and_value_problems():
    assert schema_problem({"type": "strin"}) is not None
    assert schema_problem({"type": "string"}) is None
    assert "not JSON-serialisable" in value_problem(object(), {})


def test_asset_uri_rules():
    assert Asset("s3://stratus-landing/incoming/").uri == "s3://stratus-landing/incoming/"
    assert Asset("s3://bucket-1/data/*.csv").name == "s3://bucket-1/data/*.csv"
    # As in Airflow: any scheme, example-style bucket names, names without a scheme
    assert Asset("gs://b/x").uri == "gs://b/x" and Asset("s3://bucket").uri == "s3://bucket"
    assert Asset("s3://consuming_1_task/out").uri == "s3://consuming_1_task/out"
    assert Asset(name="orders").uri == "orders"
    with pytest.raises(DagDefinitionError, match=r"Asset uri 'airflow://x' uses the scheme 'airflow'"):
        Asset("airflow://x")
    with pytest.raises(DagDefinitionError, match=r"must be a non-empty string"):
        Asset("")
    assert asset_uri_problem("s3://ok-bucket/") is None


def test_asset_matching_prefix_and_glob():
    assert asset_matches("s3://b-1/in/", "b-1", "in/file.csv")
    assert not asset_matches("s3://b-1/in/", "b-1", "out/file.csv")
    assert not asset_matches("s3://b-1/in/", "b-2", "in/file.csv")
    assert asset_matches("s3://b-1/in/*.csv", "b-1", "in/x.csv")
    assert not asset_matches("s3://b-1/in/*.csv", "b-1", "in/x.json")
    assert Asset("s3://b-1/").matches("b-1", "anything")
    assert asset_matches("s3://b-1/in/a.csv", "b-1", "in/a.csv")
    assert not asset_matches("s3://b-1/in/a.csv", "b-1", "in/a.csv.bak")
    assert asset_matches("s3://b-1/*.csv", "b-1", "in/deep/x.csv")  # fnmatch: '*' matches '/' too


def test_asset_combinators():
    a, b, c = Asset("s3://b-1/a/"), Asset("s3://b-1/b/"), Asset("s3://b-1/c/")
    either = a | b
    both = a & c
    assert isinstance(either, AssetAny) and either.objects == [a, b]
    assert isinstance(both, AssetAll)
    assert [x.uri for x in (either & c).iter_assets()] == ["s3://b-1/a/", "s3://b-1/b/", "s3://b-1/c/"]
    with pytest.raises(DagDefinitionError, match="Cannot combine an asset"):
        a | "s3://b-1/x/"
    assert a == Asset("s3://b-1/a/") and len({a, Asset("s3://b-1/a/")}) == 1


def test_asset_ref_by_name_resolves_to_the_named_asset_of_the_folder():
    # Airflow 3's Asset.ref(name=...) / Asset.ref(uri=...) (its example_asset_partition.py uses both forms).
    ref = Asset.ref(name="ref_test_orders")
    assert asset_uri_problem(ref.uri) == (
        "Asset.ref(name='ref_test_orders') names no asset defined in this DAG folder; define it (Asset(name=..., "
        "uri=...) or an @asset function of that name) or refer to it with Asset(uri=...)")
    orders = Asset(name="ref_test_orders", uri="s3://lake/orders/")  # defined further down: resolved when used
    assert ref.uri == orders.uri and ref == orders and hash(ref) == hash(orders)
    assert Asset.ref(uri="s3://lake/x") == Asset("s3://lake/x")
    with pytest.raises(DagDefinitionError, match=r"Asset.ref\(\) takes exactly one of name= or uri="):
        Asset.ref()


def test_a_cron_timetable_without_start_date_runs_from_its_next_fire():
    # Airflow 3: a CronTriggerTimetable/CronPartitionTimetable DAG needs no start_date (without catchup it
    # runs from its next fire time); a cron text without start_date is still refused.
    from orchestrator import DAG, EmptyOperator
    from orchestrator.authoring.timetables import CronPartitionTimetable
    from orchestrator.plan.compiler import compile_dag
    from orchestrator.plan.validate import validate_dag

    with DAG("no_start", schedule=CronPartitionTimetable("0 * * * *", timezone="UTC")) as dag:
        EmptyOperator(task_id="t")
    assert validate_dag(dag) == []
    assert compile_dag(dag).start_date == "1970-01-01T00:00:00+00:00"
