"""Specification of the built-in private CA (chalicelib/private_ca.py)."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import VerificationError

from chalicelib import private_ca
from chalicelib.private_ca import CAError, CertificateAuthority
from tests.support.pki import NOW, extension, verify_for

CRL_URL = "https://localhost:8444/v1/crl"
LONG_NAME = (
    "a-very-long-service-name-for-the-billing-department.internal-apps.example.com"
)
CA_FILES = ("root.pem", "root.key", "intermediate.pem", "intermediate.key")


@pytest.fixture(scope="module")
def ca_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca") / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    return directory


@pytest.fixture(scope="module")
def ca(ca_directory: Path) -> CertificateAuthority:
    return private_ca.load_ca(ca_directory)


def issue(
    ca: CertificateAuthority,
    names: list[str],
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None,
    crl_url: str | None = CRL_URL,
) -> x509.Certificate:
    if public_key is None:
        public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return private_ca.issue_leaf(
        ca,
        public_key=public_key,
        names=names,
        serial_number=private_ca.random_serial_number(),
        not_valid_before=NOW,
        not_valid_after=NOW + timedelta(days=90),
        crl_url=crl_url,
    )


# --- CA files ----------------------------------------------------------------


def test_ensure_ca_files_creates_keys_0600_and_certificates_0644_under_umask_000(
    tmp_path: Path, umask_000: None
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)

    assert directory.stat().st_mode & 0o777 == 0o700
    modes = {name: (directory / name).stat().st_mode & 0o777 for name in CA_FILES}
    assert modes == {
        "root.pem": 0o644,
        "root.key": 0o600,
        "intermediate.pem": 0o644,
        "intermediate.key": 0o600,
    }
    assert sorted(path.name for path in directory.iterdir()) == sorted(CA_FILES)


def test_ensure_ca_files_twice_changes_no_byte(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    before = {name: (directory / name).read_bytes() for name in CA_FILES}

    private_ca.ensure_ca_files(directory, now=NOW + timedelta(days=1))

    after = {name: (directory / name).read_bytes() for name in CA_FILES}
    assert after == before


def test_ensure_ca_files_racing_threads_agree_on_one_ca(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    barrier = threading.Barrier(6, timeout=30)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            private_ca.ensure_ca_files(directory, now=NOW)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    ca = private_ca.load_ca(directory)
    assert ca.intermediate_certificate.public_key() == ca.intermediate_key.public_key()
    assert sorted(path.name for path in directory.iterdir()) == sorted(CA_FILES)


def test_ensure_ca_files_certifies_an_intermediate_key_left_without_certificate(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    key_before = (directory / "intermediate.key").read_bytes()
    issuer_id_before = private_ca.load_ca(directory).issuer_id
    (directory / "intermediate.pem").unlink()

    private_ca.ensure_ca_files(directory, now=NOW)

    assert (directory / "intermediate.key").read_bytes() == key_before
    assert private_ca.load_ca(directory).issuer_id == issuer_id_before


def test_ensure_ca_files_refuses_a_root_certificate_whose_key_is_gone(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    (directory / "root.key").unlink()
    (directory / "intermediate.pem").unlink()

    with pytest.raises(CAError, match=r"root\.pem exists but .*root\.key does not"):
        private_ca.ensure_ca_files(directory, now=NOW)
    assert not (directory / "root.key").exists()


def test_ensure_ca_files_needs_no_root_key_once_the_intermediate_exists(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    (directory / "root.key").unlink()

    private_ca.ensure_ca_files(directory, now=NOW)

    assert not (directory / "root.key").exists()
    private_ca.load_ca(directory)


def test_root_is_a_p384_ca_for_ten_years(ca: CertificateAuthority) -> None:
    root = ca.root_certificate

    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(root.public_key().curve, ec.SECP384R1)  # type: ignore[union-attr]
    assert root.subject == root.issuer
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "certmint Local Root CA R1"
    )
    assert root.not_valid_after_utc - NOW == timedelta(days=3650)
    basic = extension(root, x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = extension(root, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    root.verify_directly_issued_by(root)


def test_intermediate_is_a_p256_ca_with_path_length_zero_signed_by_root(
    ca: CertificateAuthority,
) -> None:
    intermediate = ca.intermediate_certificate

    intermediate.verify_directly_issued_by(ca.root_certificate)
    assert isinstance(ca.intermediate_key.curve, ec.SECP256R1)
    assert intermediate.not_valid_after_utc - NOW == timedelta(days=5 * 365)
    basic = extension(intermediate, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert list(extension(intermediate, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    root_ski = extension(ca.root_certificate, x509.SubjectKeyIdentifier).value
    aki = extension(intermediate, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest


def test_issuer_id_is_16_hex_digits_of_the_intermediate_spki_sha256(
    ca: CertificateAuthority,
) -> None:
    spki = ca.intermediate_certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert ca.issuer_id == hashlib.sha256(spki).hexdigest()[:16]


def test_chain_pem_is_the_intermediate_only_and_root_pem_the_root(
    ca: CertificateAuthority,
) -> None:
    assert x509.load_pem_x509_certificates(ca.chain_pem().encode()) == [
        ca.intermediate_certificate
    ]
    assert x509.load_pem_x509_certificates(ca.root_pem().encode()) == [
        ca.root_certificate
    ]


def test_repr_of_the_ca_shows_no_key(ca: CertificateAuthority) -> None:
    assert repr(ca) == f"CertificateAuthority(issuer_id={ca.issuer_id!r})"


@pytest.mark.parametrize("missing", CA_FILES[:1] + CA_FILES[2:])
def test_load_ca_names_the_missing_file(tmp_path: Path, missing: str) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    (directory / missing).unlink()

    with pytest.raises(CAError, match=rf"{missing} is missing"):
        private_ca.load_ca(directory)


def test_load_ca_refuses_an_intermediate_the_root_did_not_sign(
    tmp_path: Path, ca_directory: Path
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    shutil.copy(ca_directory / "root.pem", directory / "root.pem")

    with pytest.raises(CAError, match=r"was not issued by .*root\.pem"):
        private_ca.load_ca(directory)


def test_load_ca_refuses_an_intermediate_key_that_does_not_match(
    tmp_path: Path, ca_directory: Path
) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    shutil.copy(ca_directory / "intermediate.key", directory / "intermediate.key")

    with pytest.raises(CAError, match=r"intermediate\.key does not match"):
        private_ca.load_ca(directory)


def test_load_ca_refuses_a_key_file_that_is_not_pem(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    private_ca.ensure_ca_files(directory, now=NOW)
    (directory / "intermediate.key").write_text("not a key")

    with pytest.raises(CAError, match=r"not a readable PEM private key"):
        private_ca.load_ca(directory)


# --- leaf certificates -------------------------------------------------------


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="p256"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="p384"),
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa2048"),
    ],
)
def test_leaf_verifies_to_the_root_for_each_of_its_names(
    ca: CertificateAuthority, make_key: object
) -> None:
    key = make_key()  # type: ignore[operator]
    leaf = issue(ca, ["www.example.test", "*.example.test"], key.public_key())

    for name in ("www.example.test", "api.example.test"):
        chain = verify_for(ca, leaf, DNSName(name))
        assert chain == [leaf, ca.intermediate_certificate, ca.root_certificate]


def test_leaf_does_not_verify_for_a_name_it_lacks(ca: CertificateAuthority) -> None:
    leaf = issue(ca, ["www.example.test"])

    with pytest.raises(VerificationError):
        verify_for(ca, leaf, DNSName("other.example.test"))


def test_ec_leaf_has_the_tls_server_profile(ca: CertificateAuthority) -> None:
    leaf = issue(ca, ["www.example.test", "example.test"])

    assert leaf.issuer == ca.intermediate_certificate.subject
    assert leaf.subject.rfc4514_string() == "CN=www.example.test"
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == hashes.SHA256.name
    basic = extension(leaf, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = extension(leaf, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and not usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert list(extension(leaf, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    san = extension(leaf, x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == [
        "www.example.test",
        "example.test",
    ]
    ski = extension(leaf, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    aki = extension(leaf, x509.AuthorityKeyIdentifier).value
    intermediate_ski = extension(
        ca.intermediate_certificate, x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == intermediate_ski.digest
    points = extension(leaf, x509.CRLDistributionPoints).value
    assert [point.full_name for point in points] == [
        [x509.UniformResourceIdentifier(CRL_URL)]
    ]


def test_rsa_leaf_also_allows_key_encipherment(ca: CertificateAuthority) -> None:
    key = rsa.generate_private_key(65537, 2048)
    leaf = issue(ca, ["www.example.test"], key.public_key())

    usage = extension(leaf, x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment


def test_leaf_without_crl_url_has_no_distribution_point(
    ca: CertificateAuthority,
) -> None:
    leaf = issue(ca, ["www.example.test"], crl_url=None)

    with pytest.raises(x509.ExtensionNotFound):
        extension(leaf, x509.CRLDistributionPoints)


def test_leaf_has_empty_subject_and_critical_san_when_its_only_name_is_77_chars(
    ca: CertificateAuthority,
) -> None:
    assert len(LONG_NAME) == 77
    leaf = issue(ca, [LONG_NAME])

    assert len(leaf.subject) == 0
    san = extension(leaf, x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == [LONG_NAME]
    verify_for(ca, leaf, DNSName(LONG_NAME))


def test_leaf_cn_is_the_first_name_short_enough_for_rfc_5280(
    ca: CertificateAuthority,
) -> None:
    leaf = issue(ca, [LONG_NAME, "example.test"])

    assert leaf.subject.rfc4514_string() == "CN=example.test"
    assert not extension(leaf, x509.SubjectAlternativeName).critical


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serial_number": 2**63 - 1}, r"serial_number must be in \[2\*\*63"),
        ({"serial_number": 2**159}, r"serial_number must be in \[2\*\*63"),
        ({"names": []}, r"at least one name"),
        ({"not_valid_before": NOW.replace(tzinfo=None)}, r"timezone-aware"),
        ({"not_valid_after": NOW}, r"later than not_valid_before"),
        ({"not_valid_after": NOW + timedelta(days=399)}, r"398 days at most"),
        (
            {
                "not_valid_before": NOW + timedelta(days=5 * 365 - 10),
                "not_valid_after": NOW + timedelta(days=5 * 365 + 10),
            },
            r"may not outlast its issuer",
        ),
    ],
    ids=[
        "serial-below-2**63",
        "serial-over-20-octets",
        "no-names",
        "naive-date",
        "inverted-dates",
        "lifetime-over-398-days",
        "ends-after-the-intermediate",
    ],
)
def test_issue_leaf_refuses_misuse_with_value_error(
    ca: CertificateAuthority, changes: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "public_key": ec.generate_private_key(ec.SECP256R1()).public_key(),
        "names": ["www.example.test"],
        "serial_number": private_ca.random_serial_number(),
        "not_valid_before": NOW,
        "not_valid_after": NOW + timedelta(days=90),
        "crl_url": None,
    }
    arguments.update(changes)

    with pytest.raises(ValueError, match=message):
        private_ca.issue_leaf(ca, **arguments)  # type: ignore[arg-type]


def test_issue_leaf_refuses_weak_and_foreign_keys(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match=r"at least 2048 bits"):
        issue(
            ca, ["www.example.test"], rsa.generate_private_key(65537, 1024).public_key()
        )
    with pytest.raises(ValueError, match=r"P-256 or P-384"):
        issue(
            ca,
            ["www.example.test"],
            ec.generate_private_key(ec.SECP521R1()).public_key(),
        )
    with pytest.raises(TypeError, match=r"RSA or EC"):
        foreign = ed25519.Ed25519PrivateKey.generate().public_key()
        issue(ca, ["www.example.test"], foreign)  # type: ignore[arg-type]


def test_random_serial_numbers_are_positive_distinct_and_within_20_octets() -> None:
    serials = {private_ca.random_serial_number() for _ in range(1000)}

    assert len(serials) == 1000
    assert all(2**127 <= serial < 2**128 for serial in serials)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_openssl_verify_accepts_a_leaf_and_rejects_it_under_another_root(
    ca: CertificateAuthority, ca_directory: Path, tmp_path: Path
) -> None:
    leaf_path = tmp_path / "leaf.pem"
    leaf_path.write_bytes(
        issue(ca, ["www.example.test"]).public_bytes(serialization.Encoding.PEM)
    )
    other = tmp_path / "other"
    private_ca.ensure_ca_files(other, now=NOW)

    def openssl_verify(root: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-purpose",
                "sslserver",
                "-CAfile",
                str(root),
                "-untrusted",
                str(ca_directory / "intermediate.pem"),
                str(leaf_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    accepted = openssl_verify(ca_directory / "root.pem")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip().endswith(": OK")
    assert openssl_verify(other / "root.pem").returncode != 0


# --- CRL -----------------------------------------------------------------------


def test_crl_lists_each_revoked_serial_and_is_signed_by_the_intermediate(
    ca: CertificateAuthority,
) -> None:
    revoked = [
        (private_ca.random_serial_number(), NOW - timedelta(days=2)),
        (private_ca.random_serial_number(), NOW - timedelta(hours=1)),
    ]

    der = private_ca.build_crl(
        ca, revoked, now=NOW, next_update=NOW + timedelta(days=7), crl_number=42
    )

    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(ca.intermediate_certificate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.intermediate_certificate.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(days=7)
    assert sorted((e.serial_number, e.revocation_date_utc) for e in crl) == sorted(
        revoked
    )
    assert extension(crl, x509.CRLNumber).value.crl_number == 42  # type: ignore[arg-type]
    aki = extension(crl, x509.AuthorityKeyIdentifier).value  # type: ignore[arg-type]
    intermediate_ski = extension(
        ca.intermediate_certificate, x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == intermediate_ski.digest


def test_crl_signature_does_not_verify_with_another_key(
    ca: CertificateAuthority,
) -> None:
    der = private_ca.build_crl(
        ca, [], now=NOW, next_update=NOW + timedelta(days=1), crl_number=1
    )

    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 0
    assert not crl.is_signature_valid(ca.root_certificate.public_key())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "next_update", "crl_number", "message"),
    [
        (NOW, NOW, 1, r"next_update must be later than now"),
        (NOW, NOW + timedelta(days=1), -1, r"crl_number must be in"),
        (NOW.replace(tzinfo=None), NOW + timedelta(days=1), 1, r"timezone-aware"),
    ],
    ids=["next-update-not-after-now", "negative-crl-number", "naive-now"],
)
def test_build_crl_refuses_misuse(
    ca: CertificateAuthority,
    now: datetime,
    next_update: datetime,
    crl_number: int,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        private_ca.build_crl(
            ca, [], now=now, next_update=next_update, crl_number=crl_number
        )


def test_issue_leaf_accepts_a_leaf_backdated_past_a_fresh_intermediate(
    ca: CertificateAuthority,
) -> None:
    starts = ca.intermediate_certificate.not_valid_before_utc - timedelta(hours=1)

    leaf = private_ca.issue_leaf(
        ca,
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        names=["www.example.test"],
        serial_number=private_ca.random_serial_number(),
        not_valid_before=starts,
        not_valid_after=starts + timedelta(days=90),
        crl_url=None,
    )

    assert leaf.not_valid_before_utc == starts


# --- TLS server leaves with IP addresses ---------------------------------------


def test_tls_server_leaf_names_hosts_lower_cased_and_ip_addresses(
    ca: CertificateAuthority,
) -> None:
    leaf = private_ca.issue_tls_server_leaf(
        ca,
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        hostnames=["LocalHost"],
        ip_addresses=["127.0.0.1", "::1"],
        not_valid_before=NOW,
        not_valid_after=NOW + timedelta(days=90),
        serial_number=private_ca.random_serial_number(),
    )

    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "localhost"
    )
    san = extension(leaf, x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    verify_for(ca, leaf, IPAddress(ipaddress.ip_address("::1")))
    verify_for(ca, leaf, DNSName("localhost"))
    with pytest.raises(x509.ExtensionNotFound):
        extension(leaf, x509.CRLDistributionPoints)


@pytest.mark.parametrize(
    ("hostnames", "ip_addresses", "serial_number", "message"),
    [
        ([], [], 2**64, "needs a host name or an IP address"),
        (["localhost"], ["localhost"], 2**64, "does not appear to be an IPv4"),
        (["localhost"], [], 1, "serial_number must be in"),
    ],
)
def test_tls_server_leaf_refuses_no_names_bad_addresses_and_small_serials(
    ca: CertificateAuthority,
    hostnames: list[str],
    ip_addresses: list[str],
    serial_number: int,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        private_ca.issue_tls_server_leaf(
            ca,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            hostnames=hostnames,
            ip_addresses=ip_addresses,
            not_valid_before=NOW,
            not_valid_after=NOW + timedelta(days=90),
            serial_number=serial_number,
        )
