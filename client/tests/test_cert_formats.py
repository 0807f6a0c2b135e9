"""File names and the bytes of each certificate format."""

from __future__ import annotations

from pathlib import Path

import pytest
from certmint_testpki import issue
from cryptography.hazmat.primitives.serialization import pkcs12

from certmint.errors import ClientError
from certmint.formats import CertificateBundle, CertificatePaths, file_stem
from certmint.keys import generate_private_key, private_key_pem


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("*.example.com", "_wildcard.example.com"),
        ("www.example.com", "www.example.com"),
        ("xn--bcher-kva.example.test", "xn--bcher-kva.example.test"),
    ],
)
def test_wildcard_stem_is_shell_safe_and_other_names_are_kept(
    name: str, stem: str
) -> None:
    assert file_stem(name) == stem


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "a/b.example.com",
        ".hidden",
        "www.*.example.com",
        "a..b",
        "",
        "WWW.x",
    ],
)
def test_names_that_could_escape_or_hide_are_refused_as_file_names(name: str) -> None:
    with pytest.raises(ClientError, match="cannot be used as a file name"):
        file_stem(name)


def test_wildcard_files_never_contain_a_star(tmp_path: Path) -> None:
    paths = CertificatePaths.for_name("*.example.com", tmp_path / "k", tmp_path / "c")

    assert paths.key == tmp_path / "k" / "_wildcard.example.com.key"
    assert paths.new_key == tmp_path / "k" / "_wildcard.example.com.key.new"
    assert paths.combined == tmp_path / "k" / "_wildcard.example.com.combined.pem"
    assert paths.pkcs12 == tmp_path / "k" / "_wildcard.example.com.p12"
    assert paths.certificate == tmp_path / "c" / "_wildcard.example.com.crt"
    assert paths.chain == tmp_path / "c" / "_wildcard.example.com.chain.crt"
    assert paths.chained == tmp_path / "c" / "_wildcard.example.com.chained.crt"
    assert all("*" not in name for name in paths.file_names())


def test_chained_is_leaf_then_intermediates_and_combined_adds_the_key_first() -> None:
    key = generate_private_key("ecdsa-p256")
    issued = issue(key, ["www.example.test"])
    bundle = CertificateBundle.from_pem(issued.leaf_pem, issued.chain_pem)
    key_pem = private_key_pem(key)

    assert bundle.leaf_pem() == issued.leaf_pem.encode()
    assert bundle.chain_pem() == issued.chain_pem.encode()
    assert bundle.chained_pem() == (issued.leaf_pem + issued.chain_pem).encode()
    assert bundle.combined_pem(key_pem) == key_pem + bundle.chained_pem()


def test_certificate_pem_is_normalized_so_repeat_downloads_compare_equal() -> None:
    key = generate_private_key("ecdsa-p256")
    issued = issue(key, ["www.example.test"])
    crlf_leaf = issued.leaf_pem.replace("\n", "\r\n")

    bundle = CertificateBundle.from_pem(crlf_leaf, issued.chain_pem)

    assert bundle.leaf_pem() == issued.leaf_pem.encode()


def test_chain_that_did_not_issue_the_leaf_is_refused() -> None:
    key = generate_private_key("ecdsa-p256")
    issued = issue(key, ["www.example.test"])
    stranger = issue(key, ["www.example.test"])

    with pytest.raises(ClientError, match="does not start with the issuer"):
        CertificateBundle.from_pem(issued.leaf_pem, stranger.chain_pem)


def test_leaf_field_with_two_certificates_is_refused() -> None:
    issued = issue(generate_private_key("ecdsa-p256"), ["www.example.test"])

    with pytest.raises(ClientError, match="2 leaf certificates"):
        CertificateBundle.from_pem(issued.leaf_pem + issued.chain_pem, "")


def test_garbage_from_the_server_is_refused() -> None:
    with pytest.raises(ClientError, match="cannot be parsed"):
        CertificateBundle.from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n", "")


def test_pkcs12_holds_key_leaf_and_chain_without_a_password() -> None:
    key = generate_private_key("rsa2048")
    issued = issue(key, ["www.example.test"])
    bundle = CertificateBundle.from_pem(issued.leaf_pem, issued.chain_pem)

    data = bundle.pkcs12(key, "www.example.test")
    loaded = pkcs12.load_pkcs12(data, None)

    assert loaded.cert is not None and loaded.cert.certificate == issued.leaf
    assert [c.certificate for c in loaded.additional_certs] == [issued.intermediate]
    assert bundle.pkcs12_matches(data, key)
    assert not bundle.pkcs12_matches(data, generate_private_key("rsa2048"))
    assert not bundle.pkcs12_matches(b"garbage", key)
