"""The API over HTTPS: a local stand-in for API Gateway in front of the Chalice app.

Requests go through ``chalice.local.LocalGateway``, as with ``chalice local``,
but behind our own server so that we get TLS, a body limit, timeouts, the
security headers on every response and an access log without secrets.

What this server answers itself, the app never sees:

- a path that matches no route: 404 ``not_found``;
- a body over 64 KiB: 413 ``payload_too_large``, without reading the body;
- malformed framing (bad Content-Length, unknown Transfer-Encoding): 400/501.

TODO: in AWS these are API Gateway "gateway responses" (MISSING_AUTHENTICATION_TOKEN
for an unknown route, and a 4XX/5XX default), not ours. Their status, JSON body
shape and the Strict-Transport-Security / X-Content-Type-Options headers must be
configured as gateway responses at deploy time, and the 64 KiB limit enforced by
the app or a WAF rule (API Gateway's own limit is 10 MB). Until then the
deployed API differs from this one on exactly these responses.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    LambdaContext,
    LocalChalice,
    LocalGateway,
    LocalGatewayException,
    RouteMatcher,
)

from devstack.httpserver import SecureHandler, TLSServer

# The same limit as app.MAX_BODY_BYTES (docs/api.md, 413 payload_too_large;
# tests/test_openapi.py keeps the two equal). It is a literal because app.py
# may only be imported once the stack has set the app's environment.
MAX_BODY_BYTES = 64 * 1024

# RFC 9112 §7.1: a chunk-size line is a hex number with optional extensions;
# 1 KiB is far more than any honest client sends, and so is 64 trailer lines.
_CHUNK_LINE_LIMIT = 1024
_TRAILER_LINES_LIMIT = 64
_HEX = re.compile(rb"[0-9A-Fa-f]{1,8}")
_DIGITS = re.compile(r"[0-9]{1,18}")

# After refusing a request, read and drop at most 1 MiB for at most 2 s so the
# refusal reaches the client (see ApiHandler._linger).
_LINGER_SECONDS = 2.0
_LINGER_READ_BYTES = 16 * 1024
_LINGER_READS = 64

_log = logging.getLogger("devstack.api")


class _Refusal(Exception):
    """A request this server answers itself, before the app runs."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RequestRecorder:
    """Appends every raw request the API receives to one file (test support only).

    This exists so that the test suite can prove that no private key ever
    reaches the API: tests search the file for key material after driving
    the client. Enabled only by ``CERTMINT_RECORD_REQUESTS``; never use it
    with real credentials, since it stores headers and bodies verbatim.

    Each entry is ``=== <request id>``, the request line, every header as
    received, a blank line, the raw body bytes, then a line holding the body
    in base64 (so that binary bodies stay intact and greppable either way).
    A refused request (413, 400) is recorded with what arrived of its body
    while the server lingered after refusing it.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def record(
        self,
        request_id: str,
        request_line: str,
        headers: list[tuple[str, str]],
        body: bytes,
        note: str = "",
    ) -> None:
        """Append one request; entries from concurrent requests never interleave."""
        head = [f"=== {request_id}{' ' + note if note else ''}", request_line]
        head += [f"{name}: {value}" for name, value in headers]
        entry = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        entry += body + b"\r\n" + b"base64: " + base64.b64encode(body) + b"\r\n"
        with self._lock, self._path.open("ab") as file:
            file.write(entry)


class ThreadLocalChalice(LocalChalice):
    """``LocalChalice`` with ``lambda_context`` per thread too.

    ``chalice.local`` makes ``current_request`` thread-local but leaves
    ``app.lambda_context`` shared, so with concurrent requests one request
    could read another's context (and request id).
    """

    @property
    def lambda_context(self) -> Any:
        return getattr(self._THREAD_LOCAL, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._THREAD_LOCAL.lambda_context = value


def make_thread_safe(app: Chalice) -> None:
    """Give ``app`` per-thread request state, as ``chalice local`` does (idempotent).

    Like ``chalice.local.create_local_server``, this swaps the class of the
    app object for a subclass of both the local class and the app's own class.
    """
    if isinstance(app, ThreadLocalChalice):
        return
    app.__class__ = type("DevstackChalice", (ThreadLocalChalice, type(app)), {})


class _RequestGateway(LocalGateway):
    """A ``LocalGateway`` for one request, stamping our request id into its event.

    The id goes where API Gateway and Lambda put theirs
    (``requestContext.requestId`` and ``context.aws_request_id``), so that
    the app's log lines and our access line share it. This overrides two
    underscored methods of ``chalice.local``, which is pinned below 2.0.
    """

    def __init__(self, app: Chalice, config: Config, request_id: str) -> None:
        super().__init__(app, config)
        self._request_id = request_id

    def _generate_lambda_context(self) -> LambdaContext:
        context: LambdaContext = super()._generate_lambda_context()
        context.aws_request_id = self._request_id
        return context

    def _generate_lambda_event(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        event: dict[str, Any] = super()._generate_lambda_event(
            method, path, headers, body
        )
        event["requestContext"]["requestId"] = self._request_id
        return event


class ApiServer(TLSServer):
    """The HTTPS API server; ``serve_forever`` in a thread, ``shutdown`` to stop."""

    def __init__(
        self,
        address: tuple[str, int],
        context: Any,
        app: Chalice,
        config: Config,
        recorder: RequestRecorder | None = None,
    ) -> None:
        make_thread_safe(app)
        self.app = app
        self.config = config
        self.recorder = recorder
        self._routes = RouteMatcher(list(app.routes))
        super().__init__(address, ApiHandler, context, name="api")

    def has_route(self, path: str) -> bool:
        """Whether ``path`` (query string allowed) matches one of the app's routes."""
        try:
            self._routes.match_route(path)
        except ValueError:
            return False
        return True


class ApiHandler(SecureHandler):
    """Turns one HTTP request into a Lambda event for the app, and back."""

    server: ApiServer

    def error_body(self, status: int, code: str) -> tuple[str, bytes]:
        return "application/json", _error_json(code, _MESSAGES.get(code, code))

    def handle_expect_100(self) -> bool:
        # Do not invite a body we are going to refuse (RFC 9110 §10.1.1 lets a
        # server answer with the final status instead of 100 Continue).
        declared = self.headers.get("Content-Length", "").strip()
        if _DIGITS.fullmatch(declared) and int(declared) > MAX_BODY_BYTES:
            return True
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _Refusal as refusal:
            self.close_connection = True
            self._send_error(refusal.status, refusal.code, refusal.message)
            dropped = self._linger()
            self._record(dropped, note=f"refused {refusal.status}, body as lingered")
            return
        self._record(body)

        if not self.path.startswith("/") or not self.server.has_route(self.path):
            self._send_error(404, "not_found", _MESSAGES["not_found"])
            return

        gateway = _RequestGateway(self.server.app, self.server.config, self.request_id)
        try:
            response = gateway.handle_request(
                method=self.command,
                path=self.path,
                headers=self._lambda_headers(),
                body=body or None,
            )
        except LocalGatewayException as error:
            # Only a Chalice authorizer gets here (certmint defines none):
            # pass its answer through as API Gateway would.
            self._send_response(error.CODE, dict(error.headers), {}, error.body)
            return
        except Exception as error:
            # The app's own errors are answered by the app; this is a failure
            # of the gateway itself. The message is not logged (it may quote
            # the request); the stack frames are.
            _log.error(
                "request_id=%s gateway failed: %s\n%s",
                self.request_id,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)).rstrip(),
            )
            self._send_error(500, "internal_error", _MESSAGES["internal_error"])
            return

        body_out = response.get("body")
        if response.get("isBase64Encoded") and body_out is not None:
            body_out = base64.b64decode(body_out)
        self._send_response(
            int(response["statusCode"]),
            dict(response.get("headers") or {}),
            dict(response.get("multiValueHeaders") or {}),
            body_out,
        )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # --- request body ----------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.defects or self.headers.get_payload():
            # The header parser stops at the first line that is not a field
            # ("Name : value", a line without a colon) and ignores the rest,
            # Content-Length included: the body would then be read as a second
            # request. RFC 9112 §5.1 asks for a 400 instead.
            raise _Refusal(400, "bad_request", _MESSAGES["framing"])
        if any("\0" in value for value in self.headers.values()):
            raise _Refusal(400, "bad_request", _MESSAGES["framing"])  # RFC 9110 §5.5
        transfer_encoding = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if transfer_encoding and lengths:
            # RFC 9112 §6.3: both at once is how requests get smuggled past
            # proxies; refusing is allowed and safest.
            raise _Refusal(400, "bad_request", _MESSAGES["framing"])
        if transfer_encoding:
            # Only SP and HTAB are optional whitespace (RFC 9110 §5.6.3);
            # str.strip() would also eat vertical tabs and other controls.
            if [value.strip(" \t").lower() for value in transfer_encoding] != [
                "chunked"
            ]:
                # RFC 9112 §6.1: an unknown transfer coding gets 501.
                raise _Refusal(501, "not_implemented", _MESSAGES["not_implemented"])
            return self._read_chunked()
        if not lengths:
            return b""
        values = {value.strip(" \t") for value in lengths}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
            # RFC 9110 §8.6: Content-Length is one decimal number.
            raise _Refusal(400, "bad_request", _MESSAGES["framing"])
        length = int(next(iter(values)))
        if length > MAX_BODY_BYTES:
            raise _Refusal(413, "payload_too_large", _MESSAGES["payload_too_large"])
        body = self.rfile.read(length)
        if len(body) != length:
            raise _Refusal(400, "bad_request", _MESSAGES["framing"])
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(_CHUNK_LINE_LIMIT)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _HEX.fullmatch(size_text):
                raise _Refusal(400, "bad_request", _MESSAGES["framing"])
            size = int(size_text, 16)
            if size == 0:
                self._skip_trailers()
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _Refusal(413, "payload_too_large", _MESSAGES["payload_too_large"])
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refusal(400, "bad_request", _MESSAGES["framing"])
            body += chunk

    def _skip_trailers(self) -> None:
        for _ in range(_TRAILER_LINES_LIMIT):
            line = self.rfile.readline(_CHUNK_LINE_LIMIT)
            if line in (b"\r\n", b"\n"):
                return
            if not line.endswith(b"\n"):
                break
        raise _Refusal(400, "bad_request", _MESSAGES["framing"])

    def _linger(self) -> bytes:
        # Closing a socket with unread input makes the kernel send a reset,
        # which can destroy our response before the client reads it (RFC 9112
        # §9.6). So after a refusal the rest of the body is read and dropped,
        # for a bounded time and amount; the app never sees it. What was read
        # is returned for the request recorder only.
        self.wfile.flush()
        deadline = time.monotonic() + _LINGER_SECONDS
        dropped = bytearray()
        try:
            for _ in range(_LINGER_READS):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.request.settimeout(remaining)
                chunk = self.rfile.read1(_LINGER_READ_BYTES)
                if not chunk:
                    break
                if self.server.recorder is not None:
                    dropped += chunk
        except OSError:
            pass
        return bytes(dropped)

    def _lambda_headers(self) -> dict[str, str]:
        # Lower-case names, first value of a repeated header: what the
        # ``headers`` map of an API Gateway proxy event holds. chalice.local
        # checks binary content types against lower-case names only.
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        return headers

    # --- recorder ----------------------------------------------------------------

    def _record(self, body: bytes, note: str = "") -> None:
        if self.server.recorder is None:
            return
        self.server.recorder.record(
            self.request_id, self.requestline, list(self.headers.items()), body, note
        )

    # --- responses ---------------------------------------------------------------

    def _send_error(self, status: int, code: str, message: str) -> None:
        extra = [("x-amzn-RequestId", self.request_id)]
        if self.close_connection:
            extra.append(("Connection", "close"))
        self.send_bytes(
            status, "application/json", _error_json(code, message), extra=tuple(extra)
        )

    def _send_response(
        self,
        status: int,
        headers: dict[str, Any],
        multi_headers: dict[str, Any],
        body: str | bytes | None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        pairs = [(str(name), str(value)) for name, value in headers.items()]
        for name, values in multi_headers.items():
            pairs += [(str(name), str(value)) for value in values]
        # Framing is ours to decide, whatever the app put in its headers.
        pairs = [
            (name, value)
            for name, value in pairs
            if name.lower() not in ("content-length", "connection", "transfer-encoding")
        ]
        if data and not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "application/json"))

        self.send_response(status)
        for name, value in pairs:
            self.send_header(name, value)
        self.send_header("x-amzn-RequestId", self.request_id)
        # RFC 9110 §8.6 and §15.3.5: no Content-Length and no content in a
        # 204 or 304 response.
        no_content = status in (204, 304)
        if not no_content:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and not no_content and self.command != "HEAD":
            self.wfile.write(data)


_MESSAGES = {
    "not_found": "No route matches this path.",
    "payload_too_large": f"The request body is over {MAX_BODY_BYTES} bytes.",
    "framing": "The request's Content-Length or chunked framing is invalid.",
    "bad_request": "The request is not valid HTTP/1.1.",
    "not_implemented": "This server does not implement that method or encoding.",
    "internal_error": "Something went wrong on our side.",
    "uri_too_long": "The request target is too long.",
    "headers_too_large": "The request headers are too large.",
    "request_timeout": "The request took too long to arrive.",
    "http_version_not_supported": "Only HTTP/1.0 and HTTP/1.1 are supported.",
}


def _error_json(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()
