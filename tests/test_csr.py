"""Specification of the CSR checks (chalicelib/csr.py).

The vectors in testdata/csr/ are made by testdata/make_vectors.py; each
holds the names www.example.test and example.test unless its file name says
otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from chalicelib import csr
from chalicelib.errors import BadRequest

VECTORS = Path(__file__).parent / "testdata" / "csr"
NAMES = ("www.example.test", "example.test")


def vector(name: str) -> str:
    return (VECTORS / f"{name}.pem").read_text()


def pem_of(der: bytes, label: str = "CERTIFICATE REQUEST") -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def csr_for(dns_names: list[str]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def refused(pem: str) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        csr.parse_csr(pem)
    return caught.value


@pytest.mark.parametrize(
    ("file", "key_type"),
    [
        ("ecdsa-p256", "ecdsa-p256"),
        ("ecdsa-p384", "ecdsa-p384"),
        ("rsa2048", "rsa2048"),
        ("rsa3072", "rsa3072"),
        ("rsa4096", "rsa4096"),
        ("openssl-p256", "ecdsa-p256"),
    ],
)
def test_parse_csr_accepts_each_supported_key_type(file: str, key_type: str) -> None:
    checked = csr.parse_csr(vector(file))

    assert checked.key_type == key_type
    assert checked.names == NAMES
    request = x509.load_pem_x509_csr(vector(file).encode())
    assert checked.public_key == request.public_key()


def test_every_key_type_listed_has_an_accepting_vector() -> None:
    accepted = {csr.parse_csr(vector(kind)).key_type for kind in csr.KEY_TYPES}

    assert accepted == set(csr.KEY_TYPES)


def test_public_key_sha256_is_the_hash_of_the_spki_der() -> None:
    checked = csr.parse_csr(vector("rsa2048"))

    spki = checked.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert checked.public_key_sha256 == hashlib.sha256(spki).hexdigest()
    assert csr.public_key_sha256(checked.public_key) == checked.public_key_sha256


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_public_key_sha256_matches_what_openssl_computes() -> None:
    public_pem = subprocess.run(
        [
            "openssl",
            "req",
            "-in",
            str(VECTORS / "openssl-p256.pem"),
            "-pubkey",
            "-noout",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    spki = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public_pem,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout

    checked = csr.parse_csr(vector("openssl-p256"))
    assert checked.public_key_sha256 == hashlib.sha256(spki).hexdigest()


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("rsa1024", r"^RSA keys of 1024 bits are not supported"),
        ("rsa8192", r"^RSA keys of 8192 bits are not supported"),
        ("rsa2048-exponent3", r"public exponent 65537"),
        ("ecdsa-p521", r"curve secp521r1 are not supported; use P-256 or P-384"),
        ("ed25519", r"^Ed25519 keys are not supported"),
    ],
)
def test_parse_csr_refuses_unsupported_keys(file: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        csr.parse_csr(vector(file))
    assert caught.value.code == "unsupported_key"


def test_parse_csr_refuses_a_csr_altered_after_signing() -> None:
    der = x509.load_pem_x509_csr(vector("ecdsa-p256").encode()).public_bytes(
        serialization.Encoding.DER
    )
    assert der.count(b"www.example.test") >= 1
    altered = der.replace(b"www.example.test", b"www.examplf.test", 1)

    error = refused(pem_of(altered))

    assert error.code == "invalid_csr"
    assert error.message.startswith("The CSR's signature does not verify")


def test_parse_csr_refuses_two_csrs_in_one_text() -> None:
    error = refused(vector("ecdsa-p256") + vector("rsa2048"))

    assert error.code == "invalid_csr"
    assert "exactly one PEM block" in error.message
    assert "found 2 block(s)" in error.message


def test_parse_csr_refuses_a_text_holding_a_private_key_without_echoing_it() -> None:
    key_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    key_body = key_pem.splitlines()[1]

    error = refused(key_pem + vector("ecdsa-p256"))

    assert error.code == "invalid_csr"
    assert "holds a private key" in error.message
    assert key_body not in error.message


def test_parse_csr_refuses_a_certificate_in_place_of_a_csr() -> None:
    error = refused(pem_of(b"\x30\x00", label="CERTIFICATE"))

    assert error.code == "invalid_csr"
    assert error.message.endswith("found 1 block(s): 'CERTIFICATE'.")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("hello", id="no-pem-at-all"),
        pytest.param(pem_of(b"not DER at all"), id="pem-of-garbage"),
        pytest.param(
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n"
            "-----END CERTIFICATE REQUEST-----",
            id="not-base64",
        ),
    ],
)
def test_parse_csr_refuses_garbage(text: str) -> None:
    assert refused(text).code == "invalid_csr"


def test_parse_csr_refuses_text_over_the_size_limit() -> None:
    padded = vector("ecdsa-p256") + " " * csr.MAX_CSR_PEM_BYTES

    error = refused(padded)

    assert error.code == "invalid_csr"
    assert (
        error.message == f"The CSR is larger than {csr.MAX_CSR_PEM_BYTES} bytes of PEM."
    )


def test_parse_csr_normalizes_and_merges_names_with_the_cn_last() -> None:
    checked = csr.parse_csr(vector("mixed-case-names"))

    assert checked.names == (
        "www.example.test",
        "xn--bcher-kva.example.test",
        "example.test",
    )


def test_parse_csr_takes_a_dns_name_from_the_cn_when_there_is_no_san() -> None:
    assert csr.parse_csr(vector("common-name-only")).names == ("www.example.test",)


def test_parse_csr_ignores_a_cn_that_is_a_label_not_a_host_name() -> None:
    assert csr.parse_csr(vector("label-common-name")).names == NAMES


def test_parse_csr_refuses_a_csr_without_names() -> None:
    error = refused(vector("no-names"))

    assert error.code == "invalid_csr"
    assert error.message.startswith("The CSR names no DNS name")


def test_parse_csr_refuses_an_ip_address_san() -> None:
    error = refused(vector("ip-address-san"))

    assert error.code == "invalid_csr"
    assert error.message == (
        "The CSR asks for the IP address 192.0.2.10; certmint issues "
        "certificates for DNS names only."
    )


def test_parse_csr_refuses_a_bad_name_inside_with_the_name_rules() -> None:
    error = refused(vector("wildcard-not-left-most"))

    assert error.code == "invalid_name"
    assert error.message.startswith("'www.*.example.test' is not a valid name")


def test_parse_csr_refuses_101_names() -> None:
    error = refused(csr_for([f"host{index}.example.test" for index in range(101)]))

    assert error.code == "too_many_names"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256", id="p256"),
        pytest.param(ec.generate_private_key(ec.SECP384R1()), "ecdsa-p384", id="p384"),
        pytest.param(rsa.generate_private_key(65537, 2048), "rsa2048", id="rsa2048"),
    ],
)
def test_key_type_of_names_supported_public_keys(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, expected: str
) -> None:
    assert csr.key_type_of(key.public_key()) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate().public_key(), id="ed25519"),
        pytest.param(ec.generate_private_key(ec.SECP521R1()).public_key(), id="p521"),
        pytest.param("not a key", id="a-string"),
    ],
)
def test_key_type_of_refuses_anything_else(value: object) -> None:
    with pytest.raises(BadRequest) as caught:
        csr.key_type_of(value)
    assert caught.value.code == "unsupported_key"


def test_require_names_match_ignores_order() -> None:
    checked = csr.parse_csr(vector("ecdsa-p256"))

    csr.require_names_match(checked, ["example.test", "www.example.test"])


def test_require_names_match_names_both_sides_when_they_differ() -> None:
    checked = csr.parse_csr(vector("ecdsa-p256"))

    with pytest.raises(BadRequest) as caught:
        csr.require_names_match(checked, ["www.example.test"])

    assert caught.value.code == "csr_names_mismatch"
    assert caught.value.message == (
        "The CSR lists www.example.test, example.test, but the certificate has "
        "www.example.test; make the CSR from exactly the certificate's names."
    )


def test_require_names_match_shortens_long_lists() -> None:
    checked = csr.parse_csr(
        csr_for([f"host{index}.example.test" for index in range(15)])
    )

    with pytest.raises(BadRequest, match=r"host9\.example\.test and 5 more, but"):
        csr.require_names_match(checked, ["example.test"])
