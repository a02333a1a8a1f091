"""Lighter requests for the calls moto answers in process (the embedded local cloud and tests only).

With ``mock_aws``, every boto3 call reaches moto's ``BotocoreStubber.process_request``, which
finds the service by trying every backend's URL patterns (rebuilding each backend's URL table
and matching it pattern by pattern) and turns botocore's prepared request into a werkzeug
``Request`` (a whole WSGI environ, header by header, then form and stream parsing on first
access): about a fifth of a DynamoDB call's time here.

Routing: the dispatch moto's loop picks for a URL (scheme, host, path) is kept per URL, while
no passthrough or service whitelist is configured (moto consults those on every request;
with one, moto's own ``process_request`` runs).

A DynamoDB request is a JSON document POSTed to ``/`` with an ``X-Amz-Target`` header, no
query string and no form. ``install()`` routes such requests, when moto's own routing would
send them to ``DynamoHandler.dispatch``, straight to it with ``JsonRequest``: the attributes
moto reads from a request (method, URL, path, headers, body, an empty form), built directly.
Lambda's ``Invoke`` (a POST of the payload to ``/2015-03-31/functions/NAME/invocations``, every
task's hand-over to the next) goes to ``LambdaResponse.dispatch`` the same way with
``InvokeRequest``, which adds what moto's REST router reads (the host, the path, no query).
moto then runs exactly as before (``setup_class``, the parameter parser, the action, the
response), so results and errors are unchanged. Anything else (another service, a query
string, a streamed body, moto's request recorder, IAM authorisation turned on) gets moto's
werkzeug request, as before.

Signatures: botocore signs every request with SigV4 (canonical request, headers listed twice
through ``email.message``, five HMACs), about a tenth of an in-process DynamoDB call. moto
never checks a signature unless its IAM authorisation is turned on; it reads the access key
(the account) and the region from the ``Authorization`` header's credential scope. While
moto's mock answers a request in process (the mock is on, the host is an AWS one, no
passthrough, IAM authorisation off), a plain ``SigV4Auth`` writes that header with the same
date headers and credential scope and ``Signature=NOT_COMPUTED``. Any other request (moto's
server, passthrough, S3's and presigning's signers, no mock) is signed by botocore as usual.

URL rules: moto finds the operation of a REST request (Lambda's ``Invoke`` among them) with a
werkzeug ``Map`` of every operation's URL, made on the service's first request. werkzeug
compiles each rule's matcher and also, eagerly, two URL *builders* per rule (Python source
generated as an AST, then compiled): three quarters of the Map's cost (Lambda's 89 rules,
about 0.1 s of a fresh ``stratus run``), and moto never builds a URL. ``install()`` makes a
rule's builders compile on their first use instead, from the same rule, so a URL built
later is the one werkzeug would have built.

Never used on AWS.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers, ImmutableMultiDict

_FLAG = "_stratus_fast"
_JSON_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1")
_ROUTES_MAX = 256


class JsonRequest:
    """What moto's ``BaseResponse`` reads from a request, for an AWS JSON-protocol POST to ``/``.

    Mirrors ``moto.core.request.Request.from_primitives`` for such a request: the headers as
    sent plus ``Host`` and ``Content-Length`` (a WSGI request has both), the body as bytes,
    no form, no files, no query string.
    """

    from_wsgi_server = False
    content_encoding: str | None = None
    files: ImmutableMultiDict[str, Any] = ImmutableMultiDict()
    form: ImmutableMultiDict[str, Any] = ImmutableMultiDict()
    values: ImmutableMultiDict[str, Any] = ImmutableMultiDict()
    query_string = b""
    path = raw_path = "/"
    method = "POST"

    def __init__(self, url: str, netloc: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.raw_url = url
        self.url = url
        self.data = body
        self.headers = Headers(headers)
        self.content_type = self.headers.get("Content-Type")
        self.environ: dict[str, Any] = {"HTTP_HOST": netloc, "CONTENT_LENGTH": str(len(body))}

    def get_data(self, *args: Any, **kwargs: Any) -> bytes:
        return self.data


def json_request(request: Any) -> JsonRequest | None:
    """A ``JsonRequest`` for botocore's prepared ``request``, or None if it is not a plain JSON-protocol POST."""
    if request.method != "POST":
        return None
    parts = urlsplit(request.url)
    if parts.path != "/" or parts.query or parts.fragment:
        return None
    plain = _plain_body_and_headers(request, parts.netloc)
    if plain is None:
        return None
    body, headers = plain
    named = {key.lower(): value for key, value in headers}
    if named.get("content-type") not in _JSON_TYPES or not named.get("x-amz-target"):
        return None
    return JsonRequest(request.url, parts.netloc, headers, body)


class InvokeRequest(JsonRequest):
    """What moto's ``BaseResponse`` and its REST router read from a request, for Lambda's ``Invoke``:
    a POST to ``/2015-03-31/functions/NAME/invocations`` with no query string, whose ``NAME``
    needs no percent-decoding (so the path and the raw path are the same string). As
    ``moto.core.request.Request`` would have it: the host its URL names, no query arguments, no
    form, and ``content_type`` empty when the request has none (botocore sends none here).
    """

    args: ImmutableMultiDict[str, Any] = ImmutableMultiDict()

    def __init__(self, url: str, netloc: str, path: str, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(url, netloc, headers, body)
        self.path = self.raw_path = path
        self.host = netloc
        self.content_type = self.headers.get("Content-Type", "")


_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[A-Za-z0-9_-]+/invocations$")


def invoke_request(request: Any) -> InvokeRequest | None:
    """An ``InvokeRequest`` for botocore's prepared ``request``, or None if it is not a plain ``Invoke``."""
    if request.method != "POST":
        return None
    parts = urlsplit(request.url)
    if parts.query or parts.fragment or not _INVOKE_PATH.match(parts.path):
        return None
    plain = _plain_body_and_headers(request, parts.netloc)
    if plain is None:
        return None
    body, headers = plain
    return InvokeRequest(request.url, parts.netloc, parts.path, headers, body)


def _plain_body_and_headers(request: Any, netloc: str) -> tuple[bytes, list[tuple[str, str]]] | None:
    """The body as bytes and the headers as moto's werkzeug request lists them (with the ``Host``
    its URL names); None when either needs moto's own handling."""
    body = _body_bytes(request)
    headers = None if body is None else _plain_headers(request.headers, len(body))
    if body is None or headers is None:
        return None
    headers.append(("Host", netloc))
    return body, headers


def _body_bytes(request: Any) -> bytes | None:
    """The prepared request's body as bytes; None for a stream (moto's own path reads it)."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return body if isinstance(body, bytes) else None


def _plain_headers(raw: Any, length: int) -> list[tuple[str, str]] | None:
    """The headers as moto's werkzeug request would list them, with ``Content-Length``; None when
    one of them (a ``Host``, a ``Content-Encoding``, a length that is not the body's) needs moto's own handling."""
    headers: list[tuple[str, str]] = []
    seen_length = None
    for key, value in raw.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        lower = key.lower()
        if lower == "transfer-encoding":
            continue
        if lower in ("host", "content-encoding"):
            return None
        if lower == "content-length":
            seen_length = value
        headers.append((key, value))
    if seen_length is None:
        headers.append(("Content-Length", str(length)))
    elif seen_length != str(length):
        return None
    return headers


NOT_COMPUTED = "NOT_COMPUTED"  # the Signature of a request moto answers in process (it never checks it)


def install() -> None:
    """Route moto's in-process requests by a kept table, DynamoDB's through ``JsonRequest``, leave
    their signatures uncomputed and URL rules' builders uncompiled until used (idempotent, process-wide)."""
    _unsigned_in_process()
    _lazy_url_builders()
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    if getattr(original, _FLAG, False):
        return
    from moto import settings
    from moto.awslambda.responses import LambdaResponse
    from moto.core.config import default_user_config
    from moto.core.exceptions import HTTPException
    from moto.core.request import normalize_request
    from moto.core.utils import get_equivalent_url_in_aws_domain
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api import recorder

    dynamodb_dispatch = DynamoHandler.dispatch
    lambda_dispatch = LambdaResponse.dispatch
    routes: dict[str, Any] = {}  # clean URL -> the dispatch moto's routing picks for it (None: none)

    def route(clean_url: str) -> Any:
        if clean_url not in routes:
            if len(routes) >= _ROUTES_MAX:
                routes.clear()
            routes[clean_url] = _moto_route(clean_url)
        return routes[clean_url]

    def process_request(self: Any, request: Any) -> Any:
        core = default_user_config.get("core", {})
        passthrough = core.get("passthrough") or {}
        if passthrough.get("urls") or passthrough.get("services") or core.get("service_whitelist") is not None:
            return original(self, request)  # moto's routing consults these on every request
        parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
        dispatch = route(f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}")
        if dispatch is None:
            return original(self, request)  # moto's answer for an unknown URL
        light: Any = None
        if not getattr(recorder, "_user_enabled", True) and settings.INITIAL_NO_AUTH_ACTION_COUNT == float("inf"):
            if dispatch == dynamodb_dispatch:
                light = json_request(request)
            elif dispatch == lambda_dispatch:
                light = invoke_request(request)
        try:
            if light is None:
                light = normalize_request(request)
                recorder._record_request(light)
            return dispatch(light, light.raw_url, light.headers)
        except HTTPException as e:
            return e.code, e.get_headers(), e.get_body()

    setattr(process_request, _FLAG, True)
    process_request.__wrapped__ = original  # type: ignore[attr-defined]  # moto's own, for tests comparing the two
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def _moto_route(clean_url: str) -> Any:
    """The dispatch ``BotocoreStubber.process_request`` calls for ``clean_url`` (None: it answers itself).

    As moto: the first service whose URL pattern matches and which has a path for the URL.
    """
    import moto.backend_index as backend_index
    import moto.backends as backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict

    for service, pattern in backend_index.backend_url_patterns:
        if not pattern.match(clean_url):
            continue
        backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
        if isinstance(backend_dict, BackendDict):
            regions = backend_dict[DEFAULT_ACCOUNT_ID]
            backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
        else:
            backend = backend_dict["global"]
        for url, method_to_execute in backend.urls.items():
            if re.compile(url).match(clean_url):
                return method_to_execute
    return None


def answered_in_process(url: str) -> bool:
    """Whether moto's mock answers a request to ``url`` in this process, never checking its signature."""
    from moto import settings
    from moto.core import models
    from moto.core.config import default_user_config

    if not models.botocore_stubber.enabled or settings.INITIAL_NO_AUTH_ACTION_COUNT != float("inf"):
        return False
    passthrough = default_user_config.get("core", {}).get("passthrough") or {}
    if passthrough.get("urls") or passthrough.get("services"):
        return False  # some requests go out to the network: sign them all
    host = urlsplit(url).hostname or ""
    return host.endswith(".amazonaws.com")  # moto's stubber answers every AWS host (404 if unknown)


def _unsigned_in_process() -> None:
    from botocore import auth
    from botocore.exceptions import NoCredentialsError

    sign = auth.SigV4Auth.add_auth
    if getattr(sign, _FLAG, False):
        return

    def add_auth(self: Any, request: Any) -> None:
        if type(self) is not auth.SigV4Auth or not answered_in_process(request.url):
            return sign(self, request)  # type: ignore[no-any-return]
        if self.credentials is None:
            raise NoCredentialsError()
        # As botocore: the timestamp, then the date and token headers (a retry's old ones replaced).
        request.context["timestamp"] = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, SignedHeaders=, Signature={NOT_COMPUTED}"
        )
        return None

    add_auth.__doc__ = sign.__doc__
    add_auth.__wrapped__ = sign  # type: ignore[attr-defined]
    setattr(add_auth, _FLAG, True)
    auth.SigV4Auth.add_auth = add_auth  # type: ignore[method-assign]


def _lazy_url_builders() -> None:
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    if getattr(compile_builder, _FLAG, False):
        return

    def lazy_compile_builder(self: Any, append_unknown: bool = True) -> Any:
        # ``Rule.compile`` binds what this returns as ``_build``/``_build_unknown``, and binds new
        # ones whenever it compiles the rule again: the builder is werkzeug's, made on first call.
        made: list[Any] = []

        def build(rule: Any, *args: Any, **kwargs: Any) -> Any:
            if not made:
                made.append(compile_builder(rule, append_unknown))
            return made[0](rule, *args, **kwargs)

        return build

    lazy_compile_builder.__doc__ = compile_builder.__doc__
    lazy_compile_builder.__wrapped__ = compile_builder  # type: ignore[attr-defined]
    setattr(lazy_compile_builder, _FLAG, True)
    Rule._compile_builder = lazy_compile_builder  # type: ignore[method-assign]
