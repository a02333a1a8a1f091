"""`stratus ui` server in process (port 0) over moto's run store; engine calls recorded."""

from __future__ import annotations

import html
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import re

import pytest
from observe_builders import FakeEngine, UIClient, make_plan

from orchestrator import telemetry
from orchestrator.observe.logs import capture_invocation, put_invocation_logs
from orchestrator.observe.service import RunsView
from orchestrator.observe.ui import UIServer

RUN = "manual__2026-01-01T06:00:00+00:00"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _seed(store, logs):
    store.put_plan(make_plan())
    store.create_run({"dag_id": "daily_sales", "run_id": RUN, "state": "failed", "run_type": "manual",
                      "plan_hash": make_plan().hash, "logical_date": "2026-01-01T06:00:00+00:00",
                      "start_date": "2026-01-01T06:00:01+00:00", "end_date": "2026-01-01T06:02:00+00:00"})
    with capture_invocation() as lines:
        with telemetry.task_log_context("daily_sales", RUN, "extract", -1, 1):
            telemetry.logger.error("source offline")
    put_invocation_logs(logs, "stratus-worker", "2026/01/01/[$LATEST]t1", "req-1", lines, started_ms=int(time.time() * 1000))
    store._put({"pk": f"RUN#daily_sales#{RUN}", "sk": "TI#extract#-00001", "dag_id": "daily_sales", "run_id": RUN,
                "task_id": "extract", "map_index": -1, "state": "failed", "try_number": 1, "max_tries": 1,
                "log_stream": "2026/01/01/[$LATEST]t1", "error": "RuntimeError: source offline"})


@pytest.fixture
def ui(stack):
    clients, resources, store = stack
    _seed(store, clients.client("logs"))
    engine = FakeEngine()
    with UIServer(RunsView(clients, resources, store=store, engine=engine), port=0) as server:
        yield server, engine


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_binds_loopback_on_a_free_port(ui):
    server, _ = ui
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")


def test_index_lists_dags_and_dag_page_shows_the_grid(ui):
    server, _ = ui
    status, page = _get(server.url + "/")
    assert status == 200 and page.startswith("<!doctype html>")
    row = re.search(r'<tr class="dagrow" data-dag="daily_sales".*?</tr>', page).group(0)
    assert "every day at 06:00" in row and "0 6 * * *" in row and ">UTC<" in row
    assert 'data-action="pause"' in row and 'class="pill st-failed">failed' in row
    assert re.search(r'<td class="next">\d{4}-\d\d-\d\d 06:00 UTC</td>', row)
    assert _get(server.url + "/?q=nothing-matches")[1].count('class="dagrow"') == 0
    assert _get(server.url + "/static/stratus.css")[0] == 200 and "http" not in _get(server.url + "/static/stratus.js")[1].replace("http://www.w3.org/2000/svg", "")
    status, page = _get(server.url + "/dags/daily_sales?" + urllib.parse.urlencode({"run_id": RUN}))
    assert status == 200 and 'http-equiv="refresh"' not in page  # nothing running
    assert 'onsubmit="return confirm(' in page and "Mark success" in page


def test_run_route_redirects_and_missing_things_are_404(ui):
    server, _ = ui
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(server.url + f"/runs/daily_sales/{urllib.parse.quote(RUN)}")
    assert err.value.code == 303
    assert err.value.headers["Location"] == "/dags/daily_sales?" + urllib.parse.urlencode({"run_id": RUN})
    status, page = _get(server.url + "/runs/daily_sales/nope")
    assert status == 404 and "Run &#x27;nope&#x27; of DAG &#x27;daily_sales&#x27; does not exist." in page
    status, page = _get(server.url + "/dags/other")
    assert status == 404 and "DAG &#x27;other&#x27; is not registered" in page


def test_logs_route_serves_the_try_lines(ui):
    server, _ = ui
    query = urllib.parse.urlencode({"dag_id": "daily_sales", "run_id": RUN, "task_id": "extract", "try": 1})
    status, page = _get(server.url + "/logs?" + query)
    assert status == 200 and "ERROR source offline" in page
    status, page = _get(server.url + "/logs?dag_id=daily_sales")
    assert status == 400 and "/logs needs the query parameter &#x27;run_id&#x27;." in page


def test_post_action_calls_the_engine_and_redirects_with_notice(ui):
    server, engine = ui
    params = {"action": "clear", "dag_id": "daily_sales", "run_id": RUN, "task_id": "extract"}
    status, page = UIClient(server.url).post("/action", {"params": json.dumps(params)})
    assert status == 200
    assert engine.calls == [("clear", ("daily_sales", RUN, ["extract"]), {"downstream": False, "failed_only": False})]
    assert "Cleared task &#x27;extract&#x27;" in page


def test_post_bad_params(ui):
    server, engine = ui
    client = UIClient(server.url)
    assert client.post("/action", {"params": "[1]"})[0] == 400
    status, page = client.post("/action", {"params": json.dumps({"action": "explode", "dag_id": "daily_sales"})})
    assert "explode failed: Unknown action &#x27;explode&#x27;" in page and engine.calls == []


def test_trigger_with_config_form(ui):
    server, engine = ui
    client = UIClient(server.url)
    page = client.get("/dags/daily_sales")[1]
    assert '<textarea name="conf"' in page
    params = {"action": "trigger", "dag_id": "daily_sales"}
    status, page = client.post("/action", {"params": json.dumps(params), "conf": '{"day": "2026-01-01"}'})
    assert "Triggered run &#x27;manual__new&#x27;" in page
    assert engine.calls == [("start_run", ("daily_sales",), {"conf": {"day": "2026-01-01"}, "run_type": "manual"})]
    status, page = client.post("/action", {"params": json.dumps(params), "conf": "{bad"})
    assert status == 400 and "The run&#x27;s config must be JSON" in page


CLEAR = {"params": json.dumps({"action": "clear", "dag_id": "daily_sales", "run_id": RUN, "task_id": "extract"})}


def test_cross_site_post_is_refused_and_nothing_runs(ui):
    """A page on another site posting the UI's form (the issue's attack): 403, the engine never called."""
    server, engine = ui
    client = UIClient(server.url)
    client.get("/")  # the user has the UI open: its session cookie is in the browser
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": server.url},
                    {"Referer": "https://evil.example/page.html"}):
        status, page = client.post("/action", CLEAR, headers=headers)
        assert status == 403 and "Cross-site request refused" in page, headers
    # No token (what a cross-site form cannot know), or someone else's: refused too.
    status, page = client.post("/action", CLEAR, token=False, headers={"Origin": server.url})
    assert status == 403 and "CSRF token" in page
    stranger = UIClient(server.url)
    stranger.get("/")
    stranger.token = client.token  # a token belongs to its session
    assert stranger.post("/action", CLEAR)[0] == 403
    assert engine.calls == []
    # The same form from the UI's own page works.
    status, page = client.post("/action", CLEAR, headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and len(engine.calls) == 1


def test_foreign_host_is_refused(ui):
    """DNS rebinding: evil.example resolving to 127.0.0.1 reaches the port with Host: evil.example."""
    server, engine = ui
    port = server.url.rsplit(":", 1)[1]
    client = UIClient(server.url)
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{int(port) + 1}"):
        status, page = client.get("/", headers={"Host": host})
        assert status == 403 and "is not served here" in page, host
        assert client.post("/action", CLEAR, headers={"Host": host})[0] == 403
    assert engine.calls == []
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert client.get("/", headers={"Host": host})[0] == 200


def test_allowed_host_and_security_headers(stack):
    clients, resources, store = stack
    _seed(store, clients.client("logs"))
    with UIServer(RunsView(clients, resources, store=store, engine=FakeEngine()), port=0,
                  allowed_hosts=("stratus.internal",)) as server:
        port = server.url.rsplit(":", 1)[1]
        with urllib.request.urlopen(urllib.request.Request(server.url + "/", headers={"Host": f"stratus.internal:{port}"}),
                                    timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            cookie = resp.headers["Set-Cookie"]
            assert f"stratus_session_{port}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
