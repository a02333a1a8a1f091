"""Plain moto and the local cloud answer the same transactions the same way, with the same items after.

Each side runs in its own fresh process (``transaction_cases.py``): the plain side imports
nothing of Stratus into moto (checked: no speed-up, no limit check in place), so the
comparison is with moto as shipped, not with itself. Where moto is kinder than DynamoDB
(nesting, 4 MB transactions) the local cloud must refuse and write nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from transaction_cases import CASES, KINDER_CASES

SCRIPT = Path(__file__).with_name("transaction_cases.py")
ROOT = Path(__file__).resolve().parents[3]


def _run(mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STRATUS_MOTO_FAST": "0" if mode == "plain" else "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), mode], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sides() -> tuple[dict[str, Any], dict[str, Any]]:
    return _run("plain"), _run("local")


def test_the_plain_side_is_moto_as_shipped(sides: Any) -> None:
    plain, local = sides
    assert not any(plain["patched"].values()), plain["patched"]
    assert all(local["patched"].values()), local["patched"]


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_same_answer_and_items_as_plain_moto(sides: Any, name: str) -> None:
    plain, local = sides
    assert local["cases"][name] == plain["cases"][name]


def test_cases_cover_what_they_say(sides: Any) -> None:
    plain, _ = sides
    cases = plain["cases"]
    assert cases["valid"]["answer"] == {"ok": True}
    assert cases["conditional failure"]["answer"]["code"] == "TransactionCanceledException"
    assert [r["Code"] for r in cases["conditional failure"]["answer"]["reasons"]] == ["None", "ConditionalCheckFailed"]
    assert cases["invalid update: ADD onto a string"]["answer"]["code"] == "ValidationException"
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in cases["limit: an item over 400 KB"]["items"]}
    for never in ("TI#never", "TI#never2", "TI#never3", "TI#never4", "TI#never5"):
        assert ("RUN#a", never) not in keys  # nothing of a failed transaction was written
    run = next(i for i in cases["invalid update: a key attribute"]["items"] if i["sk"]["S"] == "RUN")
    assert run["tasks_done"] == {"N": "1"}  # the valid first action was rolled back (it set 7)


@pytest.mark.parametrize("name", [name for name, _ in KINDER_CASES])
def test_limits_moto_lets_through_are_refused_with_nothing_written(sides: Any, name: str) -> None:
    plain, local = sides
    before = {json.dumps(i, sort_keys=True) for i in local["cases"]["limit: an item over 400 KB"]["items"]}
    assert plain["cases"][name]["answer"] == {"ok": True}  # moto is kinder than DynamoDB here
    answer = local["cases"][name]["answer"]
    assert answer["code"] == "ValidationException"
    assert answer["message"] in ("Nesting Levels have exceeded supported limits",
                                 "Transaction request cannot include more than 4 MB of data")
    prior = KINDER_CASES[[n for n, _ in KINDER_CASES].index(name) - 1][0] if name != KINDER_CASES[0][0] else None
    after = {json.dumps(i, sort_keys=True) for i in local["cases"][name]["items"]}
    assert after == (before if prior is None else
                     {json.dumps(i, sort_keys=True) for i in local["cases"][prior]["items"]})
