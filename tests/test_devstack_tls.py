"""Specification of the local stack's TLS server certificate (devstack/tls.py).

The local servers get a key and a certificate from the private CA, kept in
``home/tls`` and renewed a week before they expire.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import DNSName, IPAddress

from chalicelib import private_ca
from chalicelib.private_ca import CertificateAuthority
from devstack import tls
from tests.support.pki import NOW, extension, verify_for


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    directory = tmp_path_factory.mktemp("ca") / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    return private_ca.load_ca(directory)


def load_server_files(
    certificate_path: Path, key_path: Path
) -> tuple[list[x509.Certificate], bytes]:
    return (
        x509.load_pem_x509_certificates(certificate_path.read_bytes()),
        key_path.read_bytes(),
    )


def test_server_certificate_is_valid_for_localhost_and_127_0_0_1(
    ca: CertificateAuthority, tmp_path: Path, umask_000: None
) -> None:
    certificate_path, key_path = tls.issue_server_certificate(
        ca, tmp_path / "tls", now=NOW
    )

    assert (certificate_path.name, key_path.name) == ("server.pem", "server.key")
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert certificate_path.stat().st_mode & 0o777 == 0o644
    certificates, key_pem = load_server_files(certificate_path, key_path)
    leaf, chain = certificates[0], certificates[1:]
    assert chain == [ca.intermediate_certificate]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert leaf.public_key() == key.public_key()
    verify_for(ca, leaf, DNSName("localhost"), chain)
    verify_for(ca, leaf, IPAddress(ipaddress.ip_address("127.0.0.1")), chain)


def test_server_certificate_is_kept_while_current(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    paths = tls.issue_server_certificate(ca, tmp_path, now=NOW)
    before = load_server_files(*paths)

    tls.issue_server_certificate(ca, tmp_path, now=NOW + timedelta(days=80))

    assert load_server_files(*paths) == before


def test_server_certificate_is_renewed_a_week_before_expiry_keeping_the_key(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    paths = tls.issue_server_certificate(ca, tmp_path, now=NOW)
    (old_leaf, *_), key_before = load_server_files(*paths)

    later = NOW + timedelta(days=84)
    tls.issue_server_certificate(ca, tmp_path, now=later)

    (new_leaf, *_), key_after = load_server_files(*paths)
    assert key_after == key_before
    assert new_leaf.serial_number != old_leaf.serial_number
    assert new_leaf.not_valid_after_utc > later + timedelta(days=80)


def test_server_certificate_is_reissued_for_other_names(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    tls.issue_server_certificate(ca, tmp_path, now=NOW)

    certificate_path, _ = tls.issue_server_certificate(
        ca,
        tmp_path,
        hostnames=("localhost", "certmint.test"),
        ip_addresses=("::1",),
        now=NOW,
    )

    leaf = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
    san = extension(leaf, x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == [
        "certmint.test",
        "localhost",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("::1")]


def test_server_certificate_is_reissued_when_the_file_is_damaged(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    certificate_path, _ = tls.issue_server_certificate(ca, tmp_path, now=NOW)
    certificate_path.write_text("")

    tls.issue_server_certificate(ca, tmp_path, now=NOW)

    leaf = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
    verify_for(ca, leaf, DNSName("localhost"))


def test_server_certificate_is_reissued_under_a_new_ca(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    tls.issue_server_certificate(ca, tmp_path / "tls", now=NOW)
    private_ca.ensure_ca_files(tmp_path / "other", now=NOW)
    other = private_ca.load_ca(tmp_path / "other")

    certificate_path, _ = tls.issue_server_certificate(other, tmp_path / "tls", now=NOW)

    leaf, *chain = x509.load_pem_x509_certificates(certificate_path.read_bytes())
    verify_for(other, leaf, DNSName("localhost"), chain)
