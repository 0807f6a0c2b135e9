"""The CLI verifies the server's certificate and sends nothing to a server it
cannot verify: not the API key, not a single HTTP request."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import private_ca
from tests.support.cli import run

NOW = datetime.now(UTC)


class _Counting(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "20")
        self.end_headers()
        self.wfile.write(b'{"certificates": []}')

    def log_message(self, *args: object) -> None:
        pass


def _ca(directory: Path, now: datetime) -> private_ca.CertificateAuthority:
    private_ca.ensure_ca_files(directory, now=now)
    return private_ca.load_ca(directory)


def _server_files(
    ca: private_ca.CertificateAuthority,
    directory: Path,
    names: list[str],
    not_valid_before: datetime,
    not_valid_after: datetime,
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = private_ca.issue_leaf(
        ca,
        public_key=key.public_key(),
        names=names,
        serial_number=private_ca.random_serial_number(),
        not_valid_before=not_valid_before,
        not_valid_after=not_valid_after,
        crl_url=None,
    )
    chain = directory / "server.pem"
    chain.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM) + ca.chain_pem().encode()
    )
    key_path = directory / "server.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain, key_path


@pytest.fixture
def https_server() -> Iterator[object]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(chain: Path, key: Path) -> int:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    _Counting.requests = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _cli_env(tmp_path: Path, port: int, bundle: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CERTMINT_API_URL": f"https://localhost:{port}",
        "CERTMINT_CA_BUNDLE": str(bundle),
        "CERTMINT_API_KEY": "cmk_" + "a" * 20 + "_" + "b" * 12 + "_" + "c" * 43,
    }


VALID = (timedelta(hours=-1), timedelta(days=30))
EXPIRED = (timedelta(days=-30), timedelta(days=-1))
# case -> (which CA signs the server certificate, its name, its validity)
CASES = {
    "other_host": ("trusted", "other.example.test", VALID),
    "unknown_ca": ("stranger", "localhost", VALID),
    "expired": ("trusted", "localhost", EXPIRED),
}


def _serve(  # type: ignore[no-untyped-def]
    tmp_path: Path, https_server, issuer: str, name: str, validity
) -> dict[str, str]:
    """Start a server with the described certificate; the CLI's environment for it.

    The CLI always trusts only the "trusted" CA.
    """
    _ca(tmp_path / "trusted", NOW - timedelta(days=60))
    if issuer == "stranger":
        _ca(tmp_path / "stranger", NOW - timedelta(days=1))
    ca = private_ca.load_ca(tmp_path / issuer)
    start, end = validity
    files = _server_files(ca, tmp_path, [name], NOW + start, NOW + end)
    port = https_server(*files)
    return _cli_env(tmp_path, port, tmp_path / "trusted" / "root.pem")


@pytest.mark.parametrize("case", list(CASES))
def test_cli_refuses_a_server_it_cannot_verify(tmp_path, https_server, case):
    env = _serve(tmp_path, https_server, *CASES[case])

    result = run(env, tmp_path, "list")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "certificate" in result.stderr.lower()
    assert "cmk_" not in result.stderr
    assert _Counting.requests == []


def test_cli_talks_to_a_server_it_can_verify(tmp_path, https_server):
    env = _serve(tmp_path, https_server, "trusted", "localhost", VALID)

    result = run(env, tmp_path, "list")

    assert result.returncode == 0, result.stderr
    assert _Counting.requests == ["/v1/certificates"]
