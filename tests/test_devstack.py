"""The local stack: HTTPS only, strict TLS, security headers, limits, lifecycle."""

from __future__ import annotations

import signal
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support.stack import LocalStack, process_is_gone, start_stack

from chalicelib import storage
from devstack.api import MAX_BODY_BYTES
from devstack.console import resolve_static_path

HSTS = "max-age=63072000; includeSubDomains; preload"


def _client_context(stack: LocalStack) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(stack.root_ca))


def _handshake(
    stack: LocalStack, context: ssl.SSLContext, host: str = "localhost"
) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", stack.api_port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def _raw_https(stack: LocalStack, port: int, request: bytes) -> bytes:
    """Send ``request`` verbatim over TLS and return everything until close."""
    context = _client_context(stack)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        chunks = []
        while True:
            try:
                chunk = tls.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_headers(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status_line, *lines = head.split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


# --- start-up -------------------------------------------------------------------


def test_stack_prints_urls_root_and_dynalite_endpoint_before_ready(
    stack: LocalStack,
) -> None:
    text = stack.log_text()
    ready_at = text.index("\nready")
    for expected in (
        stack.api_url,
        stack.console_url,
        str(stack.root_ca),
        stack.dynamodb_endpoint,
    ):
        assert 0 <= text.index(expected) < ready_at, expected


def test_private_ca_is_created_under_home_with_private_keys(
    stack: LocalStack,
) -> None:
    ca = stack.home / "ca"
    assert (ca / "root.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    for key in ("root.key", "intermediate.key"):
        assert (ca / key).stat().st_mode & 0o777 == 0o600


# --- TLS ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_health_is_served_over_https_with_a_certificate_chaining_to_the_root(
    stack: LocalStack, host: str
) -> None:
    # Only root.pem is trusted: the handshake succeeds only if the server
    # sends the intermediate and its certificate names ``host``.
    with _handshake(stack, _client_context(stack), host) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    with httpx.Client(verify=_client_context(stack), timeout=10) as client:
        response = client.get(f"https://{host}:{stack.api_port}/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_certificate_is_refused_for_a_name_it_does_not_cover(
    stack: LocalStack,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(stack, _client_context(stack), "www.example.test")


def test_plain_http_on_the_api_port_gets_no_http_answer(stack: LocalStack) -> None:
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10) as raw:
        raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = raw.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")
    assert b'"status"' not in answer


def test_a_silent_client_does_not_block_the_next_one(
    stack: LocalStack, api: Callable[..., httpx.Client]
) -> None:
    # The handshake runs in each connection's thread, not in accept().
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10):
        response = api(timeout=5.0).get("/v1/health")
    assert response.status_code == 200


def test_tls_1_1_is_refused(stack: LocalStack) -> None:
    context = _client_context(stack)
    with warnings.catch_warnings():
        # Offering a deprecated protocol is the point of this test.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(stack, context).close()
    if refused.value.reason == "NO_PROTOCOLS_AVAILABLE":
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    # The server's protocol_version alert, not a local failure.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


@pytest.mark.parametrize(
    "ciphers",
    [
        # RSA key exchange: no forward secrecy. (With today's ECDSA server
        # key these cannot be chosen anyway; this guards an RSA key later.)
        "AES256-GCM-SHA384:AES128-GCM-SHA256:AES128-SHA",
        # Forward secret, but CBC with HMAC rather than AEAD.
        "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
        "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384",
    ],
)
def test_tls_1_2_without_forward_secrecy_or_aead_is_refused(
    stack: LocalStack, ciphers: str
) -> None:
    context = _client_context(stack)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    with pytest.raises(ssl.SSLError):
        _handshake(stack, context).close()


def test_tls_1_2_with_ecdhe_and_aes_gcm_is_accepted(stack: LocalStack) -> None:
    # The control for the test above: the same client, offering an allowed
    # suite, does connect over TLS 1.2.
    context = _client_context(stack)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
    with _handshake(stack, context) as tls:
        cipher, version, _ = tls.cipher()
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and "GCM" in cipher


# --- API responses --------------------------------------------------------------


def _assert_security_headers(headers: httpx.Headers | dict[str, str]) -> None:
    assert headers["strict-transport-security"] == HSTS
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/health", 200),
        ("GET", "/v1/no-such-route", 404),
        ("GET", "/", 404),
        ("OPTIONS", "/v1/health", 200),
        ("DELETE", "/v1/health", 405),
    ],
)
def test_every_api_response_carries_hsts_and_nosniff(
    api: Callable[..., httpx.Client], method: str, path: str, status: int
) -> None:
    response = api().request(method, path)
    assert response.status_code == status
    _assert_security_headers(response.headers)


def test_unknown_route_answers_404_not_found_in_the_error_shape(
    api: Callable[..., httpx.Client],
) -> None:
    response = api().get("/v1/certificates/www.example.test/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"].endswith(".")


def test_unknown_route_with_credentials_does_not_echo_them(
    api: Callable[..., httpx.Client],
) -> None:
    # chalice.local's own answer here quotes the Authorization header.
    response = api(token="cmk_not_a_real_key").get("/v1/nothing-here")
    assert response.status_code == 404
    assert "cmk_not_a_real_key" not in response.text


def test_body_over_64_kib_is_refused_with_413_and_security_headers(
    api: Callable[..., httpx.Client],
) -> None:
    response = api().post(
        "/v1/accounts",
        content=b"{" + b" " * MAX_BODY_BYTES + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    _assert_security_headers(response.headers)


def test_oversized_body_is_refused_before_it_is_sent(stack: LocalStack) -> None:
    # Ten megabytes are announced and none sent: an answer proves the server
    # did not wait for (or read) the body.
    response = _raw_https(
        stack,
        stack.api_port,
        b"POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    status, headers = _status_and_headers(response)
    assert status == 413
    _assert_security_headers(headers)


def test_chunked_body_over_64_kib_is_refused_with_413(
    api: Callable[..., httpx.Client],
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * 16384

    response = api().post(
        "/v1/accounts", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_malformed_content_length_is_refused_with_400_and_security_headers(
    stack: LocalStack,
) -> None:
    response = _raw_https(
        stack,
        stack.api_port,
        b"POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Length: 12, 13\r\n\r\n{}",
    )
    status, headers = _status_and_headers(response)
    assert status == 400
    _assert_security_headers(headers)


@pytest.mark.parametrize(
    "broken_header",
    [b"X-Line-Without-Colon\r\n", b"Transfer-Encoding : chunked\r\n"],
)
def test_a_malformed_header_line_cannot_smuggle_a_second_request(
    stack: LocalStack, broken_header: bytes
) -> None:
    smuggled = b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    response = _raw_https(
        stack,
        stack.api_port,
        b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\n"
        + broken_header
        + b"Content-Type: application/json\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(smuggled)
        + smuggled,
    )
    status, headers = _status_and_headers(response)
    assert status == 400
    _assert_security_headers(headers)
    assert b'"status": "ok"' not in response
    assert response.count(b"HTTP/1.1 ") == 1


def test_access_log_has_one_line_per_request_without_query_or_credentials(
    stack: LocalStack, api: Callable[..., httpx.Client]
) -> None:
    response = api(token="cms_secret_session_token").get(
        "/v1/health", params={"key": "cmk_secret_in_query"}
    )
    request_id = response.headers["x-amzn-requestid"]

    log = stack.log_text()
    lines = [line for line in log.splitlines() if f"request_id={request_id}" in line]
    access = [line for line in lines if "devstack.http" in line]
    assert len(access) == 1
    assert "method=GET path=/v1/health status=200 duration_ms=" in access[0]
    assert "cms_secret_session_token" not in log
    assert "cmk_secret_in_query" not in log


def test_request_recorder_keeps_raw_bodies_for_the_suite(
    stack: LocalStack, api: Callable[..., httpx.Client]
) -> None:
    marker = b"recorder-marker-7f3a"
    api().post("/v1/sessions", content=b'{"x": "' + marker + b'"}')
    assert marker in stack.recorded_requests()


# --- console ----------------------------------------------------------------------


def test_console_page_is_served_with_hsts_and_a_strict_csp(stack: LocalStack) -> None:
    with httpx.Client(verify=_client_context(stack), timeout=10) as client:
        page = client.get(f"{stack.console_url}/")
        style = client.get(f"{stack.console_url}/console.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "not built yet" in page.text
    assert "<script" not in page.text.lower()
    _assert_security_headers(page.headers)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "target",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/%2E%2E%2Fpyproject.toml",
        "/..%2fpyproject.toml",
        "/static_site/../../pyproject.toml",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..\\pyproject.toml",
        "/index.html%00.css",
    ],
)
def test_console_refuses_path_traversal(stack: LocalStack, target: str) -> None:
    response = _raw_https(
        stack,
        stack.console_port,
        f"GET {target} HTTP/1.1\r\nHost: localhost\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    status, headers = _status_and_headers(response)
    assert status in (400, 404)
    _assert_security_headers(headers)
    assert b"[tool." not in response
    assert b"root:" not in response


def test_static_paths_serve_no_listing_hidden_file_or_symlink_escape(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    (site / "empty").mkdir(parents=True)
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("docs")
    (site / ".env").write_text("SECRET=1")
    (site / "notes.md").write_text("unknown type")
    (tmp_path / "outside.html").write_text("outside")
    (site / "escape.html").symlink_to(tmp_path / "outside.html")

    assert resolve_static_path(site, "/docs/") == (site / "docs/index.html").resolve()
    assert resolve_static_path(site, "/docs") == (site / "docs/index.html").resolve()
    assert resolve_static_path(site, "/empty/") is None
    assert resolve_static_path(site, "/.env") is None
    assert resolve_static_path(site, "/%2eenv") is None
    assert resolve_static_path(site, "/notes.md") is None
    assert resolve_static_path(site, "/escape.html") is None
    assert resolve_static_path(site, "/%ff") is None


# --- lifecycle ----------------------------------------------------------------------


def test_data_and_ca_survive_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_stack(home)
    try:
        root_before = first.root_ca.read_bytes()
        storage.Table(first.settings).put(
            {"pk": "test#restart", "sk": "item", "value": "kept"}
        )
    finally:
        assert first.stop() == 0

    second = start_stack(home)
    try:
        item = storage.Table(second.settings).get("test#restart", "item")
        assert item is not None
        assert item["value"] == "kept"
        assert second.root_ca.read_bytes() == root_before
    finally:
        second.stop()


def test_sigterm_stops_the_stack_and_its_dynalite(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "home")
    try:
        assert not process_is_gone(running.dynalite_pid, timeout=0)
    finally:
        status = running.stop(signal.SIGTERM)
    assert status == 0
    assert process_is_gone(running.dynalite_pid)
    assert "stopped" in running.log_text()


def test_dynalite_does_not_outlive_a_killed_stack(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "home")
    running.stop(signal.SIGKILL)
    assert process_is_gone(running.dynalite_pid)


def test_stack_refuses_to_start_when_its_api_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(RuntimeError, match="API_PORT"):
            start_stack(tmp_path / "home", api_port=port)
