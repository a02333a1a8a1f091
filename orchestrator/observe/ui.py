"""`stratus ui`: Airflow's views in a browser, served on 127.0.0.1 (stdlib only, assets served locally).

The grid is the CloudWatch widget's renderer (``orchestrator.observe.grid``) with ``LocalLinks``:
actions are POST forms guarded by ``confirm()``; logs are served from CloudWatch Logs (moto's
locally). The pages are drawn by ``pages`` from what ``uiviews`` reads. Routes:

- ``GET /?q=``: the DAG list (schedule in words and cron, time zone, pause toggle, last and
  next run, tags; search);
- ``GET /dags/<dag_id>?run_id=&hours=&limit=&offset=``: one DAG's grid (dates on the axis,
  paged), the selected run's task instances;
- ``GET /dags/<dag_id>/graph|gantt?run_id=``, ``/code``, ``/details`` (``doc_md`` rendered);
- ``GET /dags/<dag_id>/runs/<run_id>/tasks/<task_id>?map_index=``: a task instance (tries,
  log, XComs, template fields);
- ``GET /assets``: producers -> asset -> consumers, the newest events;
- ``GET /static/stratus.css|js``;
- ``GET /runs/<dag_id>/<run_id>``: that run (redirects to the DAG page with it selected);
- ``GET /logs?dag_id=&run_id=&task_id=&try=&map_index=``: one try's log lines;
- ``POST /action`` (form field ``params``: JSON, see ``RunsView.perform``): act, then go back.

For tests: ``UIServer(view, port=0).start()`` runs it on a thread; ``.url``; ``.close()``.

Who may use it (the UI acts with the caller's AWS credentials, so a web page must not):

- it binds loopback (127.0.0.1) unless told otherwise (``host=``);
- every request's ``Host`` must be one of the server's own names (``127.0.0.1:PORT``,
  ``localhost:PORT``, ``[::1]:PORT``, the bound address, and ``allowed_hosts``), which stops
  DNS rebinding: a foreign name resolving to 127.0.0.1 gets 403;
- a state-changing request (POST) must come from the UI's own origin (``Origin`` and
  ``Sec-Fetch-Site``, or ``Referer`` when no ``Origin`` is sent) and carry the session's CSRF
  token: the page sets a random session cookie (``SameSite=Strict``, ``HttpOnly``) and each
  form carries ``HMAC(server secret, session)``; without both the POST gets 403 and nothing runs.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import re
import secrets
import threading
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from orchestrator.errors import NotFoundError, StratusError
from orchestrator.observe.grid import LocalLinks
from orchestrator.observe.pages import shell
from orchestrator.observe.service import RunsView
from orchestrator.observe.static import CSS, JS
from orchestrator.observe.uiviews import UIPages

STATIC = {"stratus.css": (CSS, "text/css; charset=utf-8"), "stratus.js": (JS, "text/javascript; charset=utf-8")}

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# Headers on every answer: no framing (clickjacking), nothing loaded from elsewhere (no CDN).
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self' 'unsafe-inline' data:; frame-ancestors 'none'; form-action 'self'",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is this machine only."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

MAX_BODY = 64 * 1024


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> bytes:
    return shell(title, body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    _new_session: str | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    # ---------------------------------------------------------------- plumbing

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if getattr(self, "_new_session", None):
            self.send_header("Set-Cookie", f"{self.server.cookie_name}={self._new_session}; Path=/; HttpOnly; SameSite=Strict")
        super().end_headers()

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ---------------------------------------------------------------- who may ask

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if host in self.server.allowed_hosts:
            return True
        self._send(HTTPStatus.FORBIDDEN, _page("Stratus", '<div class="error">'
                   f"Host {_e(host or '(none)')} is not served here: open the UI at {_e(self.server.own_origin)} "
                   "(or start it with --allow-host NAME for a name you trust).</div>"))
        return False

    def _session(self) -> str:
        """The caller's session id (from its cookie), or a new one set on this answer."""
        if self._new_session:
            return self._new_session
        cookies = self.headers.get("Cookie") or ""
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.server.cookie_name and SESSION_RE.match(value):
                return value
        self._new_session = secrets.token_urlsafe(24)
        return self._new_session

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        fetch_site = self.headers.get("Sec-Fetch-Site")
        if fetch_site and fetch_site not in ("same-origin", "none"):
            return False
        if origin is not None:
            return origin.lower() in self.server.allowed_origins
        referer = self.headers.get("Referer")
        if referer:
            parts = urlsplit(referer)
            return f"{parts.scheme}://{parts.netloc}".lower() in self.server.allowed_origins
        return True  # not a browser (no Origin, no Referer): the CSRF token still decides

    def _csrf_ok(self, form: dict[str, str]) -> bool:
        cookies = self.headers.get("Cookie") or ""
        session = None
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.server.cookie_name and SESSION_RE.match(value):
                session = value
        if session is None:
            return False
        return hmac.compare_digest(self.server.csrf_token(session), form.get("csrf") or "")

    @property
    def links(self) -> LocalLinks:
        return LocalLinks(csrf=self.server.csrf_token(self._session()))

    def _error(self, status: int, message: str) -> None:
        self._send(status, _page("Stratus", f'<div class="error">{_e(message)}</div>'))

    @property
    def view(self) -> RunsView:
        return self.server.view

    # ---------------------------------------------------------------- routes

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._new_session = None
        if not self._host_allowed():
            return
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.split("/") if s]
        pages = UIPages(self.view, self.links)
        try:
            if not segments:
                self._send(HTTPStatus.OK, pages.dag_list(query))
            elif segments[0] == "static" and len(segments) == 2 and segments[1] in STATIC:
                body, kind = STATIC[segments[1]]
                self._send(HTTPStatus.OK, body.encode(), kind)
            elif segments == ["assets"]:
                self._send(HTTPStatus.OK, pages.assets())
            elif segments[0] == "dags" and len(segments) == 2:
                self._send(HTTPStatus.OK, pages.grid(segments[1], query)[0])
            elif segments[0] == "dags" and len(segments) == 3 and segments[2] in ("graph", "gantt", "code", "details"):
                tab = segments[2]
                page = (pages.graph(segments[1], query) if tab == "graph" else pages.gantt(segments[1], query)
                        if tab == "gantt" else pages.code(segments[1]) if tab == "code" else pages.details(segments[1]))
                self._send(HTTPStatus.OK, page)
            elif segments[0] == "dags" and len(segments) == 6 and segments[2] == "runs" and segments[4] == "tasks":
                self._send(HTTPStatus.OK, pages.task_instance(segments[1], segments[3], segments[5], query))
            elif segments[0] == "runs" and len(segments) == 3:
                self.view.run(segments[2], segments[1])  # 404 if missing
                self._redirect(f"/dags/{quote(segments[1], safe='')}?{urlencode({'run_id': segments[2]})}")
            elif segments == ["logs"]:
                self._send(HTTPStatus.OK, self._logs(query))
            elif segments == ["healthz"]:
                self._send(HTTPStatus.OK, b"ok", "text/plain")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"No page at {parts.path}.")
        except NotFoundError as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except StratusError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._new_session = None
        if not self._host_allowed():
            return
        if not self._same_origin():
            self._error(HTTPStatus.FORBIDDEN, "Cross-site request refused: actions are taken only from the UI's own pages.")
            return
        if urlsplit(self.path).path != "/action":
            self._error(HTTPStatus.NOT_FOUND, f"No action at {self.path}.")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request too large.")
            return
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode(errors="replace")).items()}
        if not self._csrf_ok(form):
            self._error(HTTPStatus.FORBIDDEN, "This action lacks the page's CSRF token (or the session cookie): "
                        "reload the page and try again. Nothing was done.")
            return
        try:
            params = json.loads(form.get("params") or "")
            if not isinstance(params, dict):
                raise ValueError("not an object")
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "The action's params must be a JSON object in the form field 'params'.")
            return
        if (form.get("conf") or "").strip():  # "Trigger with config": Airflow's conf box
            try:
                params["conf"] = json.loads(form["conf"])
            except ValueError as exc:
                self._error(HTTPStatus.BAD_REQUEST, f"The run's config must be JSON: {exc}.")
                return
        dag_id = str(params.get("dag_id") or "")
        try:
            notice = self.view.perform(params)
            key = "notice"
        except StratusError as exc:
            notice, key = f"{params.get('action')} failed: {exc}", "error"
        query = {key: notice}
        run_id = params.get("run_id")
        if isinstance(run_id, str) and run_id:
            query["run_id"] = run_id
        target = f"/dags/{quote(dag_id, safe='')}?{urlencode(query)}" if dag_id else f"/?{urlencode(query)}"
        if params.get("action") in ("pause", "unpause"):
            # The toggle sits on the DAG list and on each DAG page: go back where it was clicked.
            back = urlsplit(self.headers.get("Referer") or "").path
            target = (f"{back}?{urlencode(query)}" if back.startswith("/dags/") and "//" not in back
                      else f"/?{urlencode(query)}")
        self._redirect(target)

    # ---------------------------------------------------------------- pages

    def _logs(self, query: dict[str, str]) -> bytes:
        for name in ("dag_id", "run_id", "task_id"):
            if not query.get(name):
                raise StratusError(f"/logs needs the query parameter '{name}'.")
        try:
            try_number = int(query["try"]) if query.get("try") else None
            map_index = int(query.get("map_index") or -1)
        except ValueError as exc:
            raise StratusError("try and map_index must be integers.") from exc
        lines = self.view.log_lines(
            query["dag_id"], query["run_id"], query["task_id"], map_index=map_index, try_number=try_number
        )
        title = f"{query['task_id']}" + (f"[{map_index}]" if map_index >= 0 else "") + f" try {query.get('try') or 'latest'}"
        back = f"/dags/{quote(query['dag_id'], safe='')}?{urlencode({'run_id': query['run_id']})}"
        text = "\n".join(line.render() for line in lines) or "(no log lines)"
        body = (f'<h3>Log: {_e(title)} <small>run {_e(query["run_id"])}</small></h3>'
                f'<a href="{_e(back)}">back to the run</a><pre class="log">{_e(text)}</pre>')
        return _page(f"Log {title}", body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], view: RunsView, verbose: bool, allowed_hosts: tuple[str, ...] = ()
    ) -> None:
        super().__init__(address, _Handler)
        self.view = view
        self.verbose = verbose
        self.secret = secrets.token_bytes(32)  # new per process: a restart ends every session
        host, port = str(self.server_address[0]), int(self.server_address[1])
        self.cookie_name = f"stratus_session_{port}"  # cookies ignore ports: one name per server
        names = {f"[{host}]" if ":" in host else host}
        if is_loopback(host):
            names |= set(LOOPBACK_NAMES)
        hosts = {f"{n}:{port}" for n in names}
        for extra in allowed_hosts:
            extra = extra.strip().lower()
            hosts.add(extra if re.search(r"(^[^:]+|\])(:\d+)$", extra) else f"{extra}:{port}")
        self.allowed_hosts = frozenset(hosts)
        self.allowed_origins = frozenset(f"http://{h}" for h in self.allowed_hosts)
        self.own_origin = f"http://{'127.0.0.1' if is_loopback(host) else next(iter(names - set(LOOPBACK_NAMES)))}:{port}"

    def csrf_token(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()


class UIServer:
    """The UI's HTTP server, bound to ``host`` (loopback by default) and ``port`` (0: any free).

    ``allowed_hosts``: further ``Host`` names to serve (e.g. a reverse proxy's), besides the
    server's own; a name without ``:port`` gets the server's port.
    """

    def __init__(
        self, view: RunsView, *, port: int = 0, host: str = "127.0.0.1", verbose: bool = False,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.server = _Server((host, port), view, verbose, tuple(allowed_hosts))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> UIServer:
        """Serve on a background thread; returns self."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="stratus-ui", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until interrupted."""
        self.server.serve_forever()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
