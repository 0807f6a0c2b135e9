"""CLI behaviour that needs no certmint server: usage, config, offline commands,
and what the user sees when the server cannot be reached or verified.

Every test passes its own :class:`Services` (private environment, no-op sleep,
config files in tmp_path) through click's ``obj``; nothing is patched.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from certmint_testpki import issue
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint import __version__
from certmint.cli import cli
from certmint.context import Services
from certmint.keys import generate_private_key

API_KEY = "cmk_offline_test_secret_0123456789"


class Sleeps:
    """Records sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _services(tmp_path: Path, sleeps: Sleeps | None = None, **environ: str) -> Services:
    return Services(
        environ={
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "HOME": str(tmp_path),
            **environ,
        },
        sleep=sleeps or Sleeps(),
        hostname=lambda: "testhost",
        show_progress=lambda: False,
        system_config_path=tmp_path / "etc-certmint.toml",
    )


def _config(tmp_path: Path, **settings: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("".join(f'{k} = "{v}"\n' for k, v in settings.items()))
    return path


def _run(
    services: Services, args: list[str], input: str | None = None, **env: str
) -> Result:
    return CliRunner(env=env or None).invoke(cli, args, obj=services, input=input)


# Usage.


def test_help_documents_the_exit_codes_and_the_wildcard_file_name(
    tmp_path: Path,
) -> None:
    result = _run(_services(tmp_path), ["--help"])

    assert result.exit_code == 0
    for line in (
        "10  download: nothing was written (files already current)",
        "12  ended",
        "13  the",
    ):
        assert line in result.output
    assert "_wildcard.example.com" in result.output


def test_buy_help_explains_the_wildcard_file_name(tmp_path: Path) -> None:
    result = _run(_services(tmp_path), ["buy", "--help"])

    assert "_wildcard.example.com.key" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["buy"],
        ["buy", "--key-type", "dsa1024", "www.example.test"],
        ["buy", "--timeout", "-1", "www.example.test"],
        ["download"],
        ["download", "--all", "www.example.test"],
        ["edit", "www.example.test"],
        ["mkconfig", "iis", "www.example.test"],
        ["signup", "--password-stdin"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    config = _config(tmp_path, api_key=API_KEY)

    result = _run(_services(tmp_path), ["--config", str(config), *args])

    assert result.exit_code == 2, result.output


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = _run(_services(tmp_path), ["version"])

    assert result.exit_code == 0
    assert result.output == f"certmint {__version__}\n"


# Configuration.


def test_commands_that_need_the_api_say_how_to_get_a_key(tmp_path: Path) -> None:
    result = _run(_services(tmp_path), ["list"])

    assert result.exit_code == 1
    assert result.stderr == (
        "error: no API key is configured; run certmint link or certmint signup\n"
    )


def test_config_file_from_the_environment_is_used(tmp_path: Path) -> None:
    config = _config(tmp_path, key_directory="/srv/from-env/keys")

    result = _run(
        _services(tmp_path),
        ["mkconfig", "nginx", "www.example.test"],
        CERTMINT_CONFIG=str(config),
    )

    assert result.exit_code == 0, result.output
    assert (
        "ssl_certificate_key /srv/from-env/keys/www.example.test.key;" in result.output
    )


def test_user_config_overrides_the_system_config(tmp_path: Path) -> None:
    services = _services(tmp_path)
    services.system_config_path.write_text(
        'key_directory = "/srv/system"\ncert_directory = "/srv/system-certs"\n'
    )
    user = tmp_path / "xdg" / "certmint" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('key_directory = "/srv/user"\n')

    result = _run(services, ["mkconfig", "nginx", "www.example.test"])

    assert "ssl_certificate_key /srv/user/www.example.test.key;" in result.output
    assert "ssl_certificate     /srv/system-certs/www.example.test.chained.crt;" in (
        result.output
    )


def test_broken_config_file_is_reported_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("key_type = \n")

    result = _run(_services(tmp_path), ["--config", str(config), "list"])

    assert result.exit_code == 1
    assert f"error: {config} is not valid TOML" in result.stderr


def test_plain_http_api_url_is_refused(tmp_path: Path) -> None:
    services = _services(tmp_path, CERTMINT_API_URL="http://127.0.0.1:8444")

    result = _run(services, ["list"])

    assert result.exit_code == 1
    assert "must start with https://" in result.stderr


# Offline commands.


def test_mkconfig_lists_the_names_of_an_installed_certificate(tmp_path: Path) -> None:
    config = _config(
        tmp_path, key_directory=str(tmp_path), cert_directory=str(tmp_path)
    )
    issued = issue(
        generate_private_key("ecdsa-p256"), ["shop.example.test", "example.test"]
    )
    (tmp_path / "shop.example.test.crt").write_text(issued.leaf_pem)

    result = _run(
        _services(tmp_path),
        ["--config", str(config), "mkconfig", "nginx", "shop.example.test"],
    )

    assert "server_name shop.example.test example.test;" in result.output


@pytest.mark.usefixtures("umask_000")
def test_req_writes_a_0600_key_and_a_csr_of_the_normalized_names(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path, key_directory=str(tmp_path), cert_directory=str(tmp_path)
    )

    result = _run(
        _services(tmp_path),
        [
            "--config",
            str(config),
            "req",
            "*.Example.test.",
            "example.test",
            "EXAMPLE.test",
        ],
    )

    assert result.exit_code == 0, result.output
    key = tmp_path / "_wildcard.example.test.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    csr = x509.load_pem_x509_csr((tmp_path / "_wildcard.example.test.csr").read_bytes())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == [
        "*.example.test",
        "example.test",
    ]


def test_req_refuses_to_overwrite_an_existing_key(tmp_path: Path) -> None:
    config = _config(
        tmp_path, key_directory=str(tmp_path), cert_directory=str(tmp_path)
    )
    key = tmp_path / "www.example.test.key"
    key.write_bytes(b"precious\n")

    result = _run(
        _services(tmp_path), ["--config", str(config), "req", "www.example.test"]
    )

    assert result.exit_code == 1
    assert "www.example.test.key already exists" in result.stderr
    assert key.read_bytes() == b"precious\n"


# Unreachable or unverifiable servers (our own sockets on 127.0.0.1 only).


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_idempotent_request_is_retried_three_times_then_reported(
    tmp_path: Path,
) -> None:
    sleeps = Sleeps()
    url = f"https://127.0.0.1:{_closed_port()}"
    config = _config(tmp_path, api_url=url, api_key=API_KEY)

    result = _run(_services(tmp_path, sleeps), ["--config", str(config), "list"])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot connect to {url}:")
    assert sleeps.calls == [1.0, 2.0]
    assert API_KEY not in result.output + result.stderr


def test_post_without_idempotency_key_is_not_retried(tmp_path: Path) -> None:
    sleeps = Sleeps()
    config = _config(
        tmp_path, api_url=f"https://127.0.0.1:{_closed_port()}", api_key=API_KEY
    )

    result = _run(
        _services(tmp_path, sleeps),
        ["--config", str(config), "revoke", "--yes", "www.example.test"],
    )

    assert result.exit_code == 1
    assert "cannot connect" in result.stderr
    assert sleeps.calls == []


def test_revoke_asks_first_and_sends_nothing_when_declined(tmp_path: Path) -> None:
    sleeps = Sleeps()
    config = _config(
        tmp_path, api_url=f"https://127.0.0.1:{_closed_port()}", api_key=API_KEY
    )

    result = _run(
        _services(tmp_path, sleeps),
        ["--config", str(config), "revoke", "www.example.test"],
        input="n\n",
    )

    assert result.exit_code == 1
    assert "every certificate but the newest of www.example.test?" in result.output
    assert "cannot connect" not in result.stderr


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "server.crt"
    key_path = directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS listener on 127.0.0.1 with a self-signed certificate.

    It completes handshakes and then hangs up; it serves at most 5
    connections and stops when the test ends.
    """
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        served = 0
        while not stop.is_set() and served < 5:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            served += 1
            connection.settimeout(5)
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}", cert_path
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_unverifiable_server_certificate_is_one_clear_line_without_the_key(
    tmp_path: Path, untrusted_tls_server: tuple[str, Path]
) -> None:
    url, _ = untrusted_tls_server
    sleeps = Sleeps()
    config = _config(tmp_path, api_url=url, api_key=API_KEY)

    result = _run(
        _services(tmp_path, sleeps), ["--verbose", "--config", str(config), "list"]
    )

    assert result.exit_code == 1
    assert f"error: cannot verify the server certificate of {url}: " in result.stderr
    assert "self-signed certificate" in result.stderr
    assert f"certmint: GET {url}/v1/certificates -> ConnectError" in result.stderr
    assert sleeps.calls == []
    assert API_KEY not in result.output + result.stderr


def test_configured_ca_bundle_is_trusted(
    tmp_path: Path, untrusted_tls_server: tuple[str, Path]
) -> None:
    url, cert_path = untrusted_tls_server
    config = _config(tmp_path, api_url=url, api_key=API_KEY, ca_bundle=str(cert_path))

    result = _run(_services(tmp_path), ["--config", str(config), "list"])

    # The handshake now succeeds; the listener then hangs up without an answer.
    assert result.exit_code == 1
    assert "cannot verify" not in result.stderr
    assert "error: cannot connect to" in result.stderr
