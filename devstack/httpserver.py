"""What the API and console servers share: TLS, limits, headers and the access log.

Both are ``http.server`` servers with a thread per connection. The listening
socket is wrapped with ``do_handshake_on_connect=False`` so that ``accept()``
never waits on a client: each handshake runs in its connection's thread under
the same timeout as the requests that follow.
"""

from __future__ import annotations

import logging
import socketserver
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.http_headers import SECURITY_HEADERS

# A client gets 30 s for its TLS handshake and for each request, and an idle
# keep-alive connection is closed after 30 s: API Gateway's own integration
# timeout is 29 s, so nothing legitimate needs longer.
CONNECTION_TIMEOUT_SECONDS = 30.0

# Threads are cheap but not free: a client that opens sockets and sends
# nothing must not exhaust the process. Connections past this many are
# closed at once.
MAX_CONNECTIONS = 64

# Longest path shown in the access log; longer ones are cut, so that one
# request cannot flood the log.
_LOGGED_PATH_LIMIT = 256

_log = logging.getLogger("devstack.http")


class TLSServer(ThreadingHTTPServer):
    """A threading HTTP server that speaks only TLS, with a bound on connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        *,
        name: str,
    ) -> None:
        self.name = name
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the bound address with getfqdn(),
        # a DNS lookup we neither need nor want for a loopback server.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _log.warning("%s: too many connections, closing a new one", self.name)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed handshakes (plain HTTP, old TLS versions, port scanners) and
        # dropped connections are routine; a traceback for each would bury
        # the access log. The exception text is not logged: it can quote
        # bytes the client sent.
        error = sys.exc_info()[1]
        _log.debug("%s: connection ended early: %s", self.name, type(error).__name__)


class SecureHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 over TLS, the security headers on every response, one log line each.

    Subclasses implement ``do_<METHOD>`` and may override :meth:`error_body`.
    The standard library's own log lines are silenced: they quote the request
    line, query string included, and a query string can carry a secret.
    """

    protocol_version = "HTTP/1.1"
    timeout = CONNECTION_TIMEOUT_SECONDS
    server_version = "certmint-devstack"

    request_id = ""
    _status: int | None = None
    _started = 0.0
    _sent_headers: set[str]

    def version_string(self) -> str:
        """The Server header: our name only, no Python version to fingerprint."""
        return self.server_version

    # --- connection ----------------------------------------------------------

    def setup(self) -> None:
        # The handshake happens here, in the connection's own thread and under
        # the connection timeout, never in the accept loop.
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def handle_one_request(self) -> None:
        self.request_id = str(uuid.uuid4())
        self._status = None
        self._started = time.monotonic()
        self._sent_headers = set()
        self.command = ""
        self.path = ""
        self.requestline = ""
        super().handle_one_request()
        if self._status is not None:
            self._log_access()

    # --- responses -------------------------------------------------------------

    def send_response_only(self, code: int, message: str | None = None) -> None:
        if code >= 200:
            self._status = code
            self._sent_headers = set()
        super().send_response_only(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if self._status is not None:
            self._sent_headers.add(keyword.lower())
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        if self._status is not None:
            for name, value in SECURITY_HEADERS.items():
                if name.lower() not in self._sent_headers:
                    self.send_header(name, value)
        super().end_headers()

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        # Replaces the standard library's HTML page, which quotes the request
        # line back to the client. The connection is closed: after a framing
        # error the next bytes on it cannot be trusted.
        self.close_connection = True
        content_type, body = self.error_body(code, _ERROR_CODES.get(code, "error"))
        self.send_bytes(code, content_type, body, extra=(("Connection", "close"),))

    def error_body(self, status: int, code: str) -> tuple[str, bytes]:
        """The ``(content type, body)`` of an error this server makes itself."""
        return "text/plain; charset=utf-8", f"{status} {code}\n".encode()

    def send_bytes(
        self,
        status: int,
        content_type: str | None,
        body: bytes,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Send a complete response (no body for HEAD, per RFC 9110 §9.3.2)."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    # --- logging ---------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the standard library's lines (see the class docstring)."""

    def _log_access(self) -> None:
        duration_ms = (time.monotonic() - self._started) * 1000
        _log.info(
            "%s request_id=%s method=%s path=%s status=%s duration_ms=%.1f",
            getattr(self.server, "name", "http"),
            self.request_id,
            _printable(self.command or "-", 16),
            _printable(self.path.split("?", 1)[0] or "-", _LOGGED_PATH_LIMIT),
            self._status,
            duration_ms,
        )


# Codes for the errors http.server raises before a handler runs.
_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def _printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with control characters escaped.

    A request line is attacker-controlled; escaping keeps one request to one
    log line (no forged entries through CR/LF, no terminal escapes).
    """
    cut = text[:limit]
    escaped = "".join(
        char if char.isprintable() and char != " " else f"\\x{ord(char):02x}"
        for char in cut
    )
    return escaped + ("..." if len(text) > limit else "")
