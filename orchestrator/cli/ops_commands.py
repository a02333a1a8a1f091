"""``stratus tasks test|rendered|variables|connections``: Airflow's habits for one task, Variables and Connections.

- ``tasks test DAG TASK [--logical-date D] [--conf JSON] [--map-index N] [--run-id RUN]``: run one
  task's code in this process, like ``airflow tasks test``: no dependencies checked, no state
  recorded anywhere. XCom pulls read the run named by ``--run-id`` (on the targeted cloud),
  otherwise they find nothing. Variables and Connections come from the targeted cloud when
  there is one (``stratus dev`` or ``--stack``), else from ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``.
- ``tasks rendered RUN TASK [--map-index N] [--try N] [--json]``: each try's rendered template
  fields as the worker stored them (``orchestrator.cli.view_commands.cmd_rendered``).
- ``variables get|set|list|delete``: SSM Parameter Store under the variables prefix
  (``/stratus/variables/``), on ``stratus dev`` or a deployed stack. ``set --secure`` stores a
  SecureString (masked in task logs).
- ``connections get|add|list|delete``: Secrets Manager secrets under ``stratus/connections/``
  (the JSON Airflow's secrets backends use); ``get`` masks the password unless ``--show-password``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from orchestrator.errors import NotFoundError, StratusError


def _target_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default=None, help="deployed stack to use (default: $STRATUS_STACK, else stratus dev)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def register(subparsers: Any) -> None:
    """Add ``tasks``, ``variables`` and ``connections``."""
    tasks = subparsers.add_parser("tasks", help="work with one task (tasks test, tasks rendered)")
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION")
    p = tsub.add_parser("test", help="run one task now without recording state (like `airflow tasks test`)")
    p.add_argument("dag_id", help="DAG id")
    p.add_argument("task_id", help="task id")
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--logical-date", default=None, help="logical date, ISO-8601 (default: now)")
    p.add_argument("--conf", default=None, help="run conf as a JSON object, checked against the DAG's params")
    p.add_argument("--map-index", type=int, default=None, help="the map index, for a mapped task")
    p.add_argument("--run-id", default=None, help="read upstream XComs (and mapped arguments) from this run")
    p.add_argument("--stack", default=None, help="deployed stack to read --run-id and secrets from")
    p.set_defaults(func=cmd_tasks_test)
    from orchestrator.cli import view_commands

    view_commands.register_rendered(tsub)
    tasks.set_defaults(func=lambda args: _usage(tasks))

    variables = subparsers.add_parser("variables", help="get/set/list/delete Variables (SSM Parameter Store)")
    vsub = variables.add_subparsers(dest="variables_command", metavar="ACTION")
    p = vsub.add_parser("get", help="print a Variable's value")
    p.add_argument("key")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_variables_get)
    p = vsub.add_parser("set", help="create or replace a Variable")
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--secure", action="store_true", help="store a SecureString (masked in task logs)")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_variables_set)
    p = vsub.add_parser("list", help="list the Variables")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_variables_list)
    p = vsub.add_parser("delete", help="delete a Variable")
    p.add_argument("key")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_variables_delete)
    variables.set_defaults(func=lambda args: _usage(variables))

    conns = subparsers.add_parser("connections", help="get/add/list/delete Connections (Secrets Manager)")
    csub = conns.add_subparsers(dest="connections_command", metavar="ACTION")
    p = csub.add_parser("get", help="print a Connection (password masked)")
    p.add_argument("conn_id")
    p.add_argument("--show-password", action="store_true", help="print the password too")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_connections_get)
    p = csub.add_parser("add", help="create or replace a Connection")
    p.add_argument("conn_id")
    p.add_argument("--conn-uri", default=None, help="an Airflow connection URI, e.g. postgres://user:pw@host:5432/db")
    p.add_argument("--conn-json", default=None, help="the fields as JSON: conn_type, host, login, password, ...")
    for field in ("conn-type", "conn-host", "conn-login", "conn-password", "conn-schema", "conn-extra"):
        p.add_argument(f"--{field}", default=None)
    p.add_argument("--conn-port", type=int, default=None)
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_connections_add)
    p = csub.add_parser("list", help="list the Connections (ids, types, hosts)")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_connections_list)
    p = csub.add_parser("delete", help="delete a Connection")
    p.add_argument("conn_id")
    _target_opts(p)
    _dag_opt(p)
    p.set_defaults(func=cmd_connections_delete)
    conns.set_defaults(func=lambda args: _usage(conns))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,200}$")


def _check_name(kind: str, name: str) -> str:
    if not _NAME_RE.match(name) or ".." in name:
        raise StratusError(f"Invalid {kind} name {name[:80]!r}: use letters, digits, '_', '-', '.' and '/'.")
    return name


def _dag_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dag", default=None, metavar="DAG_ID",
                   help="one DAG's own Variables/Connections (stratus/dags/DAG_ID/): with per-DAG isolation "
                        "a DAG's tasks read only these (and the global Variables)")


def _backend(args: argparse.Namespace) -> Any:
    from orchestrator.local.target import resolve_target
    from orchestrator.secrets import SecretsBackend
    from orchestrator.secrets.backend import dag_prefixes

    clients, _ = resolve_target(args)
    dag_id = getattr(args, "dag", None)
    if dag_id:
        variables, connections = dag_prefixes(_check_name("DAG", dag_id))
        return SecretsBackend(clients, variables_prefix=variables, connections_prefix=connections)
    return SecretsBackend(clients)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


# ---------------------------------------------------------------------------- variables
def cmd_variables_get(args: argparse.Namespace) -> int:
    backend = _backend(args)
    found = backend.variable(args.key)
    if found is None:
        raise NotFoundError(f"Variable '{args.key}' does not exist (SSM parameter "
                            f"'{backend.variables_prefix}{args.key}'); create it with "
                            f"`stratus variables set {args.key} VALUE`.")
    value, secure = found
    if args.json:
        _print_json({"key": args.key, "value": value, "secure": secure})
    else:
        print(value)
    return 0


def cmd_variables_set(args: argparse.Namespace) -> int:
    _check_name("Variable", args.key)
    backend = _backend(args)
    backend.clients.client("ssm").put_parameter(Name=f"{backend.variables_prefix}{args.key}", Value=args.value,
                                                Type="SecureString" if args.secure else "String", Overwrite=True)
    print(f"Variable '{args.key}' set{' (SecureString)' if args.secure else ''}.")
    return 0


def _variables(backend: Any) -> list[dict[str, Any]]:
    ssm = backend.clients.client("ssm")
    prefix = backend.variables_prefix
    out = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix.rstrip("/") or "/", Recursive=True):
        for p in page.get("Parameters", []):
            out.append({"key": p["Name"][len(prefix):], "type": p.get("Type"),
                        "value": p["Value"] if p.get("Type") != "SecureString" else "***"})
    return sorted(out, key=lambda v: v["key"])


def cmd_variables_list(args: argparse.Namespace) -> int:
    items = _variables(_backend(args))
    if args.json:
        _print_json(items)
        return 0
    from orchestrator.local.report import table

    if not items:
        print("No Variables (create one with `stratus variables set KEY VALUE`).")
        return 0
    print(table(["key", "type", "value"], [[v["key"], str(v["type"]), _short(str(v["value"]))] for v in items]))
    return 0


def _short(text: str, width: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_variables_delete(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if not backend.delete_variable(args.key):
        raise NotFoundError(f"Variable '{args.key}' does not exist; nothing deleted.")
    print(f"Variable '{args.key}' deleted.")
    return 0


# ---------------------------------------------------------------------------- connections
def _conn_fields(conn: Any, *, show_password: bool) -> dict[str, Any]:
    return {"conn_id": conn.conn_id, "conn_type": conn.conn_type, "host": conn.host, "login": conn.login,
            "password": conn.password if show_password or not conn.password else "***", "schema": conn.schema,
            "port": conn.port, "extra": conn.extra_dejson}


def cmd_connections_get(args: argparse.Namespace) -> int:
    from orchestrator.secrets import Connection

    backend = _backend(args)
    text = backend.connection_text(args.conn_id)
    if text is None:
        raise NotFoundError(f"Connection '{args.conn_id}' does not exist (Secrets Manager secret "
                            f"'{backend.connections_prefix}{args.conn_id}'); add it with "
                            f"`stratus connections add {args.conn_id} --conn-uri URI`.")
    fields = _conn_fields(Connection.from_text(args.conn_id, text), show_password=args.show_password)
    if args.json:
        _print_json(fields)
    else:
        for key, value in fields.items():
            if value not in (None, {}, ""):
                print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
    return 0


def cmd_connections_add(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    from orchestrator.secrets import Connection

    _check_name("Connection", args.conn_id)
    given = [x for x in (args.conn_uri, args.conn_json) if x]
    fields = {k: getattr(args, f"conn_{k}") for k in ("type", "host", "login", "password", "schema", "port", "extra")}
    if len(given) > 1 or (given and any(v is not None for v in fields.values())):
        raise StratusError("Pass one of --conn-uri, --conn-json or the --conn-* fields, not several.")
    if args.conn_uri:
        conn = Connection.from_uri(args.conn_id, args.conn_uri)
    elif args.conn_json:
        conn = Connection.from_text(args.conn_id, args.conn_json)
    elif fields["type"] or fields["host"]:
        conn = Connection(conn_id=args.conn_id, conn_type=fields["type"], host=fields["host"], login=fields["login"],
                          password=fields["password"], schema=fields["schema"], port=fields["port"],
                          extra=fields["extra"])
        conn.extra_dejson  # noqa: B018 - a bad --conn-extra fails here, naming the connection
    else:
        raise StratusError(f"Connection '{args.conn_id}' needs --conn-uri, --conn-json or at least --conn-type/"
                           "--conn-host.")
    body = json.dumps({k: v for k, v in _conn_fields(conn, show_password=True).items()
                       if k != "conn_id" and v not in (None, {})})
    backend = _backend(args)
    sm = backend.clients.client("secretsmanager")
    name = f"{backend.connections_prefix}{args.conn_id}"
    try:
        sm.create_secret(Name=name, SecretString=body)
        verb = "added"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        sm.put_secret_value(SecretId=name, SecretString=body)
        verb = "replaced"
    print(f"Connection '{args.conn_id}' {verb} (Secrets Manager secret '{name}').")
    return 0


def cmd_connections_list(args: argparse.Namespace) -> int:
    from orchestrator.secrets import Connection, SecretFormatError

    backend = _backend(args)
    sm = backend.clients.client("secretsmanager")
    prefix = backend.connections_prefix
    rows = []
    for page in sm.get_paginator("list_secrets").paginate():
        for sec in page.get("SecretList", []):
            if not sec["Name"].startswith(prefix):
                continue
            conn_id = sec["Name"][len(prefix):]
            try:
                conn = Connection.from_text(conn_id, backend.connection_text(conn_id) or "{}")
                rows.append({"conn_id": conn_id, "conn_type": conn.conn_type, "host": conn.host})
            except SecretFormatError as exc:
                rows.append({"conn_id": conn_id, "conn_type": None, "host": f"(unreadable: {exc})"})
    rows.sort(key=lambda r: r["conn_id"])
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("No Connections (add one with `stratus connections add ID --conn-uri URI`).")
        return 0
    from orchestrator.local.report import table

    print(table(["conn_id", "type", "host"], [[r["conn_id"], str(r["conn_type"] or "-"), str(r["host"] or "-")]
                                              for r in rows]))
    return 0


def cmd_connections_delete(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    backend = _backend(args)
    name = f"{backend.connections_prefix}{args.conn_id}"
    try:
        backend.clients.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise NotFoundError(f"Connection '{args.conn_id}' does not exist; nothing deleted.") from None
        raise
    print(f"Connection '{args.conn_id}' deleted.")
    return 0


# ---------------------------------------------------------------------------- tasks test
class _ReadOnlyXComs:
    """XCom reads for ``tasks test``: from ``--run-id``'s run on the target, else nothing."""

    def __init__(self, store: Any, notes: list[str]) -> None:
        self.store = store
        self.notes = notes

    def get_xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        if self.store is None:
            self.notes.append(f"xcom_pull of '{task_id}' found nothing (pass --run-id RUN to read that run's XComs)")
            return None
        return self.store.get_xcom(dag_id, run_id, task_id, map_index, key)

    def list_xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
        if self.store is None:
            self.notes.append(f"xcom_pull of mapped '{task_id}' found nothing (pass --run-id RUN)")
            return []
        return list(self.store.list_xcom(dag_id, run_id, task_id, key))

    def __getattr__(self, name: str) -> Any:
        if self.store is None:
            raise StratusError(f"`stratus tasks test` without --run-id cannot {name}: pass --run-id RUN.")
        return getattr(self.store, name)


def _did_you_mean(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def cmd_tasks_test(args: argparse.Namespace) -> int:
    from orchestrator.cli.run_commands import _parse_date
    from orchestrator.engine.start import conf_from_text
    from orchestrator.engine import mapping
    from orchestrator.engine.runtime import RuntimeTaskInstance, build_context
    from orchestrator.secrets import printmask
    from orchestrator.plan.compiler import compile_dag
    from orchestrator.plan.loader import DagBag
    from orchestrator.plan.params import resolve_params

    conf = conf_from_text(args.conf, dag_id=args.dag_id, source="--conf")
    logical = _parse_date(args.logical_date) or datetime.now(timezone.utc)
    bag = DagBag(args.dags)
    dag = bag.dags.get(args.dag_id)
    if dag is None:
        problems = "".join(f"\n  {e}" for e in bag.import_errors.values())
        raise NotFoundError(f"DAG '{args.dag_id}' is not in {args.dags!r} (DAGs: {', '.join(sorted(bag.dags)) or 'none'})."
                            + _did_you_mean(args.dag_id, sorted(bag.dags)) + problems)
    plan = compile_dag(dag, args.dags)
    if args.task_id not in dag.task_dict:
        raise NotFoundError(f"DAG '{args.dag_id}' has no task '{args.task_id}' (tasks: "
                            f"{', '.join(sorted(dag.task_dict))})." + _did_you_mean(args.task_id, sorted(dag.task_dict)))
    step = plan.step(args.task_id)
    map_index = -1 if args.map_index is None else args.map_index
    if step.mapping is not None and args.map_index is None:
        raise StratusError(f"Task '{args.task_id}' of DAG '{args.dag_id}' is mapped: pass --map-index N "
                           "(and --run-id RUN so the mapped arguments can be read from that run).")
    if step.mapping is None and args.map_index is not None and args.map_index >= 0:
        raise StratusError(f"Task '{args.task_id}' of DAG '{args.dag_id}' is not mapped: leave out --map-index.")
    store = None
    run: dict[str, Any] = {}
    if args.run_id or _has_target(args):
        from orchestrator import secrets
        from orchestrator.local.target import resolve_target
        from orchestrator.store import RunStore

        clients, resources = resolve_target(args)
        secrets.set_backend(secrets.SecretsBackend(clients))
        if args.run_id:
            store = RunStore(clients, resources)
            run = dict(store.get_run(args.dag_id, args.run_id))
    run_id = args.run_id or f"tasks_test__{logical.isoformat()}"
    if not run:
        run = {"run_id": run_id, "run_type": "manual", "logical_date": logical.isoformat(),
               "data_interval_start": logical.isoformat(), "data_interval_end": logical.isoformat(),
               "conf": conf, "params": resolve_params(plan.params, conf, dag_id=plan.dag_id)}
    notes: list[str] = []
    xcoms = _ReadOnlyXComs(store, notes)
    rti = RuntimeTaskInstance(plan.dag_id, run_id, args.task_id, map_index, 1, int(step.retry.retries), plan, xcoms,
                              start_date=datetime.now(timezone.utc))
    task = dag.task_dict[args.task_id]
    rti.task = task
    ctx = build_context(plan=plan, step=step, run=run, ti=rti, task=task, dag=dag)
    print(f"stratus tasks test: {args.dag_id}.{args.task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
          + f" (logical date {run.get('logical_date')}; nothing is recorded)", file=sys.stderr, flush=True)
    printmask.install()
    try:
        expanded = mapping.instance_kwargs(plan, step, run, xcoms, map_index, task) if map_index >= 0 else None
        value = task.run(ctx, expanded)
    except Exception as exc:  # noqa: BLE001 - the task's own failure, shown as Airflow shows it
        traceback.print_exc()
        for note in dict.fromkeys(notes):
            print(f"note: {note}", file=sys.stderr)
        print(f"Task '{args.task_id}' failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for note in dict.fromkeys(notes):
        print(f"note: {note}", file=sys.stderr)
    if rti.pushed:
        print(f"pushed XComs: {json.dumps(rti.pushed, default=str)}")
    print(f"Task '{args.task_id}' succeeded; returned: {json.dumps(value, default=str)}")
    return 0


def _has_target(args: argparse.Namespace) -> bool:
    import os

    from orchestrator import constants as c
    from orchestrator.local.target import read_dev_state, state_path

    return bool(getattr(args, "stack", None) or os.environ.get(c.ENV_STACK) or read_dev_state(state_path()))


__all__ = ["register"]
