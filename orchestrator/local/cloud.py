"""The embedded local cloud: moto + template.yaml deployed + the handlers running for real.

``LocalCloud`` starts moto (in process by default; ``server=True`` runs moto's threaded
server on 127.0.0.1 on a free port so other processes can share it), translates the SAM
template with samtranslator, creates it as a CloudFormation stack (``local.stack``), reads
the stack outputs into ``Resources``, routes moto's Lambda invokes to the handler modules
(``local.functions``) and starts the emulation of what moto does not do
(``local.emulation``)::

    with LocalCloud("dags") as cloud:
        run = cloud.run_dag("etl_taskflow")
        assert run["state"] == "success"

One local cloud runs per process at a time (moto's state is process-wide).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.local.speedups import compiled

compiled.install()  # before moto's imports compile their few hundred patterns

try:  # the local cloud is the package's `local` extra (moto, the SAM translator); Lambda never has it
    import importlib.util as _util

    import moto  # noqa: F401
    if _util.find_spec("samtranslator") is None:  # imported only when a template is translated
        raise ModuleNotFoundError("No module named 'samtranslator'", name="samtranslator")
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(
        f"The local cloud needs {exc.name!r}, which is in Stratus's 'local' extra: pip install 'stratus[local]' "
        "(make install does). Commands against a deployed stack (--stack NAME) do not need it.",
        name=exc.name,
    ) from exc

from orchestrator import constants as c
from orchestrator.config import Clients, Resources
from orchestrator.errors import StratusError
from orchestrator.local import ddblimits, deploycache, functions, heap, iam, speedups
from orchestrator.local.emulation import Emulation, LocalClock
from orchestrator.local.functions import MOTO_LOCK, FunctionHost
from orchestrator.local.stack import ACCOUNT_ID, DeployedStack, deploy_stack
from orchestrator.local.template import TranslatedTemplate

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class LocalCloudError(StratusError):
    """The local cloud could not start, or did not become idle in time."""


def default_template() -> Path:
    """template.yaml of the project in the working directory, else the one next to the package."""
    here = Path.cwd() / "template.yaml"
    return here if here.is_file() else DEFAULT_TEMPLATE


def _managed_policies(translated: TranslatedTemplate, stack: DeployedStack) -> dict[str, list[str]]:
    """Role name -> ManagedPolicyArns: as the deploy resolved them, or (a stack restored from
    an older deploy cache) the template's literal ones (the translator's AWS managed policies)."""
    found = getattr(stack, "managed_policies", None)
    if found is not None:
        return found
    out: dict[str, list[str]] = {}
    for logical_id, spec in translated.resources_of_type("AWS::IAM::Role").items():
        arns = spec.get("Properties", {}).get("ManagedPolicyArns")
        name = stack.physical_ids.get(logical_id)
        if name and isinstance(arns, list):
            out[name] = [a if isinstance(a, str) else str(a.get("Fn::Sub", "")).replace("${AWS::Partition}", "aws")
                         for a in arns if isinstance(a, str) or (isinstance(a, dict) and "Fn::Sub" in a)]
    return out


def _table_hash_keys(translated: TranslatedTemplate, stack: DeployedStack) -> dict[str, str]:
    """Physical table name -> partition key attribute (the IAM check's ``dynamodb:LeadingKeys``)."""
    keys = {}
    for logical_id, spec in translated.resources_of_type("AWS::DynamoDB::Table").items():
        name = stack.physical_ids.get(logical_id)
        for element in spec.get("Properties", {}).get("KeySchema", []):
            if name and element.get("KeyType") == "HASH":
                keys[name] = element["AttributeName"]
    return keys


class LocalCloud:
    """moto with the Stratus stack deployed and the handlers running (see the module docstring).

    Parameters: ``dags_root`` (the DAG folder the handlers load), ``template`` (default: the
    project's template.yaml), ``code_root`` (the folder ``CodeUri`` paths are relative to;
    default the template's folder), ``server`` (moto's threaded server on 127.0.0.1 instead
    of in-process mocking; ``port`` 0 picks a free one), ``pool_size`` (async invocations at
    most at once: ``local.invocations``),
    ``function_timeouts`` (logical id or name -> seconds, overriding the template),
    ``auto_advance`` (when only timers remain, jump the clock to the next one: what
    ``stratus run`` wants for retry delays), ``parameters`` (template parameter overrides),
    ``echo_logs`` (also print the functions' logs), ``deploy_cache`` (restore the deployed stack
    kept on disk by an earlier process with the same template, parameters and versions instead
    of deploying it; default: on in process unless ``STRATUS_DEPLOY_CACHE=0``, off in server mode,
    where ``stratus dev``'s clients read the stack through CloudFormation; see ``local.deploycache``),
    ``iam_check`` (authorise every AWS call a handler makes against its function's deployed
    role, as AWS does; ``local.iam``).
    """

    def __init__(
        self,
        dags_root: str | Path = "dags",
        *,
        template: str | Path | None = None,
        code_root: str | Path | None = None,
        server: bool = False,
        port: int = 0,
        pool_size: int = 8,
        stack_name: str = "stratus-local",
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
        function_timeouts: dict[str, int] | None = None,
        auto_advance: bool = False,
        echo_logs: bool = False,
        tick_s: float = 0.02,
        deploy_cache: bool | None = None,
        iam_check: bool = True,
    ) -> None:
        self.dags_root = Path(dags_root).resolve()
        self.template_path = Path(template).resolve() if template else default_template()
        self.code_root = Path(code_root).resolve() if code_root else None
        self.server = server
        self.port = port
        self.pool_size = pool_size
        self.stack_name = stack_name
        self.region = region
        self.parameters = dict(parameters or {})
        self.function_timeouts = dict(function_timeouts or {})
        self.auto_advance = auto_advance
        self.echo_logs = echo_logs
        self.tick_s = tick_s
        self.deploy_cache = (deploycache.enabled() and not server) if deploy_cache is None else deploy_cache
        self.restored = False  # whether the stack came from the deploy cache
        self.iam_check = iam_check
        self.iam: iam.IamCheck | None = None
        self.deployed_groups: list[Any] | None = None  # the per-DAG worker groups the deploy made (Isolation=dag)
        self.clock = LocalClock()
        self.endpoint_url: str | None = None
        self.clients: Clients
        self.resources: Resources
        self.stack: DeployedStack
        self.translated: TranslatedTemplate
        self._facts: dict[str, Any] = {}  # LocalCloud._read_deploy's
        self.host: FunctionHost
        self.emulation: Emulation
        self._mock: Any = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value

    def start(self) -> LocalCloud:
        """Start moto, deploy the template and the emulation; raises ``LocalCloudError``."""
        if self._started:
            return self
        if not self.template_path.is_file():
            raise LocalCloudError(
                f"Template {str(self.template_path)!r} not found: run from the project folder or pass template=."
            )
        self._set_env({"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region})
        # Lambda runs one invocation per container; here threads share the Powertools logger,
        # whose per-invocation keys can race while a line is formatted. Such a line is dropped
        # quietly (the stdlib's production setting) instead of printing a traceback.
        self._raise_exceptions = logging.raiseExceptions
        logging.raiseExceptions = False
        # Powertools warns when an invocation published no metric; on AWS that goes to the
        # function's log, here it would interleave with the CLI's output.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        try:
            with heap.kept():  # what the start makes lives as long as the cloud (local.heap)
                self._start_moto()
                self._deploy()
        except BaseException:
            self.close()
            raise
        self._started = True
        return self

    def _start_moto(self) -> None:
        if self.server:
            from moto.server import ThreadedMotoServer

            self._set_env(_FAKE_CREDENTIALS)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per AWS call
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            # Every boto3 client of this process (handlers included) goes to the local server.
            self._set_env({"AWS_ENDPOINT_URL": self.endpoint_url, c.ENV_ENDPOINT_URL: self.endpoint_url})
            import urllib.request

            urllib.request.urlopen(urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST"))
        else:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        self.clients = Clients(endpoint_url=self.endpoint_url, region_name=self.region)
        speedups.install()  # moto's own slow paths made fast, guarded (local only; see local.speedups)
        ddblimits.install()  # DynamoDB's limits moto does not enforce (on with or without the speed-ups)

    def _deploy_stack(self) -> None:
        # One name per stack (a fresh moto has no bucket of that name); the translation names it,
        # so a random one would make every deploy a different one for the deploy cache.
        staging = f"{self.stack_name}-staging"[:63].lower()
        from orchestrator.local.template import isolation_groups

        # Isolation=dag (the default): one worker function and role per DAG, as `stratus deploy` makes them.
        groups = isolation_groups(self.template_path, self.dags_root, self.parameters)
        self.deployed_groups = groups
        key = None
        if self.deploy_cache:
            shape = {"__isolation": json.dumps([dataclasses.asdict(g) for g in groups]) if groups is not None else ""}
            key = deploycache.key_of(self.template_path, parameters={**self.parameters, **shape}, region=self.region,
                                     stack_name=self.stack_name, code_root=self.code_root,
                                     dags_root=self.dags_root, staging_bucket=staging)
            kept = deploycache.load(key)
            if kept is not None:
                with MOTO_LOCK:
                    deploycache.restore(kept, ACCOUNT_ID)
                self.translated, self.stack, self.restored = kept["translated"], kept["stack"], True
                self._facts = kept["facts"]
                return
        from orchestrator.local.template import translate

        self.translated = translate(
            self.template_path,
            staging_bucket=staging,
            parameters=self.parameters,
            region=self.region,
            code_root=self.code_root,
            isolation_groups=groups,
            stack_name=self.stack_name,
        )
        with MOTO_LOCK:
            self.stack = deploy_stack(
                self.clients,
                self.translated,
                stack_name=self.stack_name,
                staging_bucket=staging,
                region=self.region,
                parameters=self.parameters,
            )
            self._facts = self._read_deploy()
            if key is not None:
                deploycache.save(key, translated=self.translated, stack=self.stack, account_id=ACCOUNT_ID,
                                 facts=self._facts)

    def _read_deploy(self) -> dict[str, Any]:
        """What the cloud needs to know of the deployed stack, read back from moto (kept with a
        deploy in the deploy cache): each function's configuration, each role's policies."""
        lam = self.clients.client("lambda")
        configs = {}
        for logical_id in self.translated.functions:
            name = self.stack.physical_ids.get(logical_id)
            if name:
                configs[name] = lam.get_function(FunctionName=name)["Configuration"]
        documents = iam.role_documents(self.clients, [config["Role"] for config in configs.values()],
                                       managed=_managed_policies(self.translated, self.stack))
        return {"functions": configs, "role_documents": documents}

    def _deploy(self) -> None:
        self._deploy_stack()
        self.resources = Resources.from_stack_outputs(self.stack.outputs, dags_root=str(self.dags_root))
        specs = {}
        arns = {}
        roles: dict[str, str] = {}
        env: dict[str, str] = {}
        configs = self._facts["functions"]
        for logical_id, spec in self.translated.functions.items():
            name = self.stack.physical_ids.get(logical_id)
            if not name:
                continue
            config = configs[name]
            specs[name] = spec
            arns[name] = config["FunctionArn"]
            roles[name] = config["Role"]
            for key, value in config.get("Environment", {}).get("Variables", {}).items():
                value = str(value)  # moto keeps a Number parameter's value as a number
                if key in env and env[key] != value:
                    log.warning("local cloud: %s differs between functions; the process keeps %r", key, env[key])
                    continue
                env[key] = value
        # One process hosts every function: the environment is shared, with local overrides.
        env[c.ENV_DAGS_ROOT] = str(self.dags_root)
        if self.endpoint_url:
            env[c.ENV_ENDPOINT_URL] = self.endpoint_url
        self._set_env(env)
        self.host = FunctionHost(
            functions=specs,
            arns=arns,
            region=self.region,
            pool_size=self.pool_size,
            timeouts=self.function_timeouts,
            log_writer=self._write_logs,
            echo_logs=self.echo_logs,
            log_groups={name: self.stack.physical_ids.get(spec.log_group_ref, "") for name, spec in specs.items()
                        if spec.log_group_ref},
        )
        worker = self.resources.worker_function
        if worker in specs:  # a local override of the worker's timeout is what the worker must know too
            self._set_env({c.ENV_WORKER_TIMEOUT: str(self.host.timeout_of(worker))})
        if self.iam_check:
            self.iam = iam.IamCheck.from_documents(
                roles, self._facts["role_documents"], account=ACCOUNT_ID,
                hash_keys=_table_hash_keys(self.translated, self.stack),
            )
            self.host.iam = self.iam
            iam.install()
        functions.register(self.host)
        self.emulation = Emulation(
            host=self.host,
            clock=self.clock,
            region=self.region,
            account_id=ACCOUNT_ID,
            function_names={v: k for k, v in arns.items()},
            settle=lambda: self.wait_idle(advance=False),
            dead_letters=self.stack.dead_letters,
        )
        self.emulation.start(self.tick_s)

    def close(self) -> None:
        """Stop the emulation, the handlers and moto; restore the environment."""
        emulation = getattr(self, "emulation", None)
        if emulation is not None:
            emulation.stop()
        host = getattr(self, "host", None)
        if host is not None:
            host.close(wait=True)
            functions.unregister(host)
            functions.uninstall_hooks()
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None
        if self._mock is not None:
            with contextlib.suppress(Exception):
                self._mock.stop()
            self._mock = None
        logging.raiseExceptions = getattr(self, "_raise_exceptions", logging.raiseExceptions)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self._started:
            heap.release()
        self._started = False

    # ------------------------------------------------------------------ use
    def _write_logs(self, group: str, stream: str, text: str, stamps: list[int] | None = None) -> None:
        from moto.logs.models import logs_backends

        ms = int(time.time() * 1000)
        # Each line keeps the time it was written (``stamps``, one per line), as in CloudWatch Logs.
        times = list(stamps or [])
        lines = [(times[i] if i < len(times) else ms, line) for i, line in enumerate(text.splitlines())]
        events = [{"timestamp": t, "message": line} for t, line in lines if line.strip()]
        if not events:
            return
        with MOTO_LOCK:
            backend = logs_backends[ACCOUNT_ID][self.region]
            if group not in backend.groups:
                backend.create_log_group(group, {})
            backend.create_log_stream(group, stream)
            backend.put_log_events(group, stream, events)

    def function_name(self, logical_id: str) -> str:
        """Physical name of a template function (``"WorkerFunction"`` -> ``"stratus-local-worker"``)."""
        return self.stack.physical_ids[logical_id]

    def fire_schedule(self, name: str, group: str | None = None) -> datetime:
        """Fire an EventBridge Scheduler schedule's next occurrence now (default group: the
        stack's schedule group); returns the scheduled time its target received."""
        return self.emulation.fire_schedule(name, group or self.resources.scheduler_group)

    def crash_next(self, function: str, when: Any = None, times: int = 1) -> None:
        """Make the next ``times`` invocations of ``function`` (logical id or name) whose event
        satisfies ``when(event)`` crash before the handler runs, as a killed Lambda runtime does
        (``Runtime.ExitError``): async ones then follow Lambda's retries and OnFailure destination."""
        from orchestrator.local.functions import Fault

        self.host.faults.append(Fault(function=function, when=when, times=times))

    def duplicate_events(self, function: str, enabled: bool = True) -> None:
        """Deliver every ``Event`` invoke of ``function`` twice (Lambda's at-least-once delivery)."""
        if enabled:
            self.host.duplicated.add(function)
        else:
            self.host.duplicated.discard(function)

    @property
    def invocations(self) -> dict[str, int]:
        """Invocations so far per logical function id (each handler run counts once).

        The per-DAG workers (Isolation=dag) count under their own id and also under
        ``"WorkerFunction"``, which is then every task worker's count.
        """
        by_name = {v: k for k, v in self.stack.physical_ids.items()}
        out = {by_name.get(name, name): n for name, n in self.host.invocations.items()}
        family = sum(n for name, n in self.host.invocations.items() if self.host.functions[name].family == c.WORKER)
        if family:
            out[c.WORKER] = out.get(c.WORKER, 0) + family
        return out

    def deploy_new_workers(self) -> list[str]:
        """Isolation=dag: give DAGs added to the folder since the deploy their worker function and
        role, as the next `stratus deploy` would (``local.workers``); returns the functions created."""
        from orchestrator.local.workers import deploy_new_workers

        return deploy_new_workers(self)

    def refresh_functions(self, created: list[str], *, changed_roles: bool = False) -> None:
        """Host, route and authorise functions created after the deploy (``local.workers``)."""
        from orchestrator.local.workers import register_functions

        register_functions(self, created, changed_roles=changed_roles)

    def worker_of(self, dag_id: str) -> str:
        """The name of the worker function that runs ``dag_id``'s tasks (its own with Isolation=dag)."""
        from orchestrator.engine.dispatch import LambdaDispatcher, worker_target

        plan = self.engine().store.get_current_plan(dag_id)
        return LambdaDispatcher(self.clients, self.resources)._function(worker_target(plan), dag_id)

    def wait_idle(self, timeout: float = 120.0, *, advance: bool | None = None) -> None:
        """Wait until nothing is queued or running and no message or timer is due.

        With ``advance`` (default: the cloud's ``auto_advance``) the clock jumps to the next
        one-time timer (SQS delay, retry, at() schedule) whenever everything else is idle.
        Raises ``LocalCloudError`` after ``timeout`` seconds, saying what is still busy.
        """
        advance = self.auto_advance if advance is None else advance
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            if self.host.pending:
                quiet = 0
                # Handlers are running: sleep until none is (the ticker starts due work meanwhile).
                self.host.wait_quiet(0.05)
            else:
                started = self.emulation.pump()
                if started == 0 and self.host.pending == 0:
                    quiet += 1
                    if quiet >= 2:
                        nxt = self.emulation.next_due(recurring=False) if advance else None
                        if nxt is None:
                            return
                        self.clock.jump_to(nxt)
                        quiet = 0
                        continue
                    time.sleep(0.002)
                else:
                    quiet = 0
            if time.monotonic() > deadline:
                raise LocalCloudError(
                    f"The local cloud is still busy after {timeout:.0f} s: {self.host.pending} invocation(s) "
                    "queued or running. A task may be stuck; raise the timeout or check the task's logs."
                )

    def run_dag(
        self,
        dag_id: str,
        *,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        run_id: str | None = None,
        timeout: float = 600.0,
        partition_key: str | None = None,
    ) -> dict[str, Any]:
        """Register the DAG's plan, start a run through the engine, wait until idle; returns the run item."""
        from orchestrator.engine.start import start_run
        from orchestrator.local.functions import quiet_stdout

        engine = self.engine()
        plan = self.sync_dag(dag_id)
        with quiet_stdout():  # the engine's EMF lines belong to a log, not to the caller's stdout
            run = start_run(engine, dag_id, plan=plan, conf=conf, logical_date=logical_date, run_id=run_id,
                            partition_key=partition_key).run
        self.wait_idle(timeout)
        return engine.store.get_run(dag_id, run["run_id"])

    def sync_dag(self, dag_id: str) -> Any:
        """Compile one DAG from ``dags_root`` and put its plan in the registry; returns the plan."""
        from orchestrator.local.workers import covers
        from orchestrator.plan.compiler import compile_dag
        from orchestrator.plan.loader import DagBag

        bag = DagBag.for_dag(str(self.dags_root), dag_id)
        dag = bag.dags.get(dag_id)
        if dag is None:
            problems = "; ".join(f"{f}: {e}" for f, e in bag.import_errors.items())
            known = ", ".join(sorted(bag.dags)) or "none"
            raise LocalCloudError(
                f"DAG {dag_id!r} not found in {str(self.dags_root)!r} (DAGs found: {known})."
                + (f" Import errors: {problems}" if problems else "")
            )
        if not covers(self, dag_id, dag):  # Isolation=dag: a DAG new since the deploy gets its worker first
            self.deploy_new_workers()
        plan = compile_dag(dag, str(self.dags_root))
        self.engine().store.put_plan(plan)
        return plan

    def engine(self) -> Any:
        """The engine (``orchestrator.compose``) on this cloud's store, dispatching through Lambda (moto -> handlers)."""
        from orchestrator.compose import build_engine

        return build_engine(self.clients, self.resources, dags_root=str(self.dags_root))

    def now(self) -> datetime:
        return self.clock.now().astimezone(timezone.utc)
