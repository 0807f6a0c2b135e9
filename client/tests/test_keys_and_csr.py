"""Keys and CSRs: SANs from the server's names, the CN rule, hashes per key type."""

from __future__ import annotations

import hashlib

import pytest
from certmint_testpki import issue
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmint.errors import KeyMismatch, LocalFileError
from certmint.keys import (
    KEY_TYPES,
    build_csr,
    generate_private_key,
    key_type_of,
    load_private_key,
    private_key_pem,
    public_key_sha256,
    require_matching_key,
)

LONG_NAME = (
    "a-very-long-service-name-for-the-billing-department.internal-apps.example.com"
)


def _common_names(csr: x509.CertificateSigningRequest) -> list[str]:
    return [
        str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]


def _sans(
    csr: x509.CertificateSigningRequest,
) -> x509.Extension[x509.SubjectAlternativeName]:
    return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize(
    ("key_type", "expected_hash", "expected_key"),
    [
        ("ecdsa-p256", hashes.SHA256, "secp256r1"),
        ("ecdsa-p384", hashes.SHA384, "secp384r1"),
        ("rsa2048", hashes.SHA256, 2048),
        ("rsa3072", hashes.SHA256, 3072),
        ("rsa4096", hashes.SHA256, 4096),
    ],
)
def test_csr_of_each_key_type_has_the_right_key_and_signature_hash(
    key_type: str, expected_hash: type[hashes.HashAlgorithm], expected_key: object
) -> None:
    key = generate_private_key(key_type)

    csr = x509.load_pem_x509_csr(build_csr(key, ["www.example.test", "example.test"]))

    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, expected_hash)
    public = csr.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        assert public.curve.name == expected_key
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == expected_key
        assert public.public_numbers().e == 65537
    assert key_type_of(key) == key_type


def test_every_key_type_is_covered() -> None:
    assert set(KEY_TYPES) == {
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa2048",
        "rsa3072",
        "rsa4096",
    }


def test_csr_carries_every_name_as_a_dns_san_in_order_and_the_first_as_cn() -> None:
    key = generate_private_key("ecdsa-p256")
    names = ["www.example.test", "example.test", "*.example.test"]

    csr = x509.load_pem_x509_csr(build_csr(key, names))

    assert _sans(csr).value.get_values_for_type(x509.DNSName) == names
    assert _common_names(csr) == ["www.example.test"]
    assert _sans(csr).critical is False


def test_first_name_over_64_characters_gives_the_next_short_name_as_cn() -> None:
    assert len(LONG_NAME) == 77
    key = generate_private_key("ecdsa-p256")

    csr = x509.load_pem_x509_csr(build_csr(key, [LONG_NAME, "example.com"]))

    assert _common_names(csr) == ["example.com"]
    assert _sans(csr).value.get_values_for_type(x509.DNSName) == [
        LONG_NAME,
        "example.com",
    ]


def test_no_name_of_64_characters_or_less_gives_no_cn_and_a_critical_san() -> None:
    key = generate_private_key("ecdsa-p256")

    csr = x509.load_pem_x509_csr(build_csr(key, [LONG_NAME]))

    assert _common_names(csr) == []
    assert len(csr.subject) == 0
    assert _sans(csr).value.get_values_for_type(x509.DNSName) == [LONG_NAME]
    assert _sans(csr).critical is True


def test_csr_without_names_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one name"):
        build_csr(generate_private_key("ecdsa-p256"), [])


def test_unknown_key_type_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown key type 'dsa1024'"):
        generate_private_key("dsa1024")


def test_key_round_trips_through_its_pem_file_form() -> None:
    key = generate_private_key("ecdsa-p384")

    loaded = load_private_key(private_key_pem(key), "a.key")

    assert public_key_sha256(loaded) == public_key_sha256(key)


def test_garbage_key_file_is_refused_with_its_path() -> None:
    with pytest.raises(LocalFileError, match=r"^/etc/x\.key is not an unencrypted PEM"):
        load_private_key(b"not a key", "/etc/x.key")


def test_public_key_sha256_is_over_the_subject_public_key_info_der() -> None:
    key = generate_private_key("rsa2048")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert public_key_sha256(key) == hashlib.sha256(der).hexdigest()
    assert public_key_sha256(key.public_key()) == public_key_sha256(key)


def test_matching_certificate_and_key_pass_the_check() -> None:
    key = generate_private_key("ecdsa-p256")
    chain = issue(key, ["www.example.test"])

    require_matching_key(chain.leaf, key, "www.example.test.key")


def test_certificate_for_another_key_raises_key_mismatch_naming_the_key_file() -> None:
    key = generate_private_key("ecdsa-p256")
    chain = issue(generate_private_key("ecdsa-p256"), ["www.example.test"])

    with pytest.raises(
        KeyMismatch,
        match=r"does not match the local key www\.example\.test\.key",
    ) as caught:
        require_matching_key(chain.leaf, key, "www.example.test.key")

    assert caught.value.exit_code == 13
