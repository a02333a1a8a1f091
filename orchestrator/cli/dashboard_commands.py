"""``stratus dashboard [--open]``: the CloudWatch dashboard of the targeted cloud, rendered locally.

Against `stratus dev` (or ``--stack``): the dashboard `stratus dev` / `stratus sync` put, else
one built from the registered DAGs; drawn by ``orchestrator.observe.dashpreview`` (the grid by
the real widget function, the charts from the metrics the cloud recorded) into one HTML file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from orchestrator.errors import StratusError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("dashboard", help="render the CloudWatch dashboard locally as a page (--open shows it)")
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--out", default=".stratus/dashboard.html", help="where to write it (default: .stratus/dashboard.html)")
    p.add_argument("--hours", type=float, default=3.0, help="time range shown, in hours (default: 3)")
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--stack", default=None, help="CloudFormation stack (default: stratus dev)")
    p.set_defaults(func=cmd_dashboard)


def dashboard_body(clients: Any, resources: Any, stack: str | None) -> dict[str, Any]:
    """The body of the stack's dashboard as put, else one built from the registered DAGs."""
    from orchestrator.observe.dashboard import build_dashboard_body
    from orchestrator.store import RunStore

    cw = clients.client("cloudwatch")
    if stack:
        try:
            return json.loads(cw.get_dashboard(DashboardName=stack)["DashboardBody"])  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - not put yet: build it below
            pass
    store = RunStore(clients, resources)
    plans = [store.get_current_plan(str(d["dag_id"])) for d in store.list_dags()]
    widget = (resources.worker_function or "stratus-worker").rsplit("-worker", 1)[0] + "-widget"
    arn = clients.client("lambda").get_function(FunctionName=widget)["Configuration"]["FunctionArn"]
    log_group = f"/aws/lambda/{resources.worker_function}"
    return build_dashboard_body(plans, region=cw.meta.region_name, widget_function_arn=arn, log_group=log_group)


def cmd_dashboard(args: argparse.Namespace) -> int:
    import os

    from orchestrator import constants as c
    from orchestrator.local.target import read_dev_state, resolve_target, state_path
    from orchestrator.observe.dashpreview import render_preview

    clients, resources = resolve_target(args)
    stack = getattr(args, "stack", None) or os.environ.get(c.ENV_STACK)
    if not stack:
        stack = (read_dev_state(state_path()) or {}).get("stack")
    try:
        body = dashboard_body(clients, resources, stack)
    except Exception as exc:  # noqa: BLE001 - say what is missing instead of a traceback
        raise StratusError(f"Cannot build the dashboard of this cloud: {exc}. Run `stratus sync` first.") from exc
    page = render_preview(body, clients=clients, resources=resources, hours=args.hours)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    print(f"dashboard ({len(body.get('widgets') or [])} widgets) written to {out}")
    if args.open:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())
    return 0
