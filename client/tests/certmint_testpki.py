"""A throwaway root, intermediate and leaf, made fresh for each test that asks.

Generated rather than stored so that the leaf can be issued for whatever key
a test holds; nothing here is trusted outside the test.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmint.keys import PrivateKey

_NOW = datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(signer, hashes.SHA256())
    )


@dataclass(frozen=True)
class IssuedChain:
    """PEM strings shaped like the ``certificate`` and ``chain`` of the API."""

    leaf_pem: str
    chain_pem: str
    leaf: x509.Certificate
    intermediate: x509.Certificate


def issue(key: PrivateKey, names: list[str]) -> IssuedChain:
    """Issue a leaf for ``key`` and ``names`` under a fresh root and intermediate."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca("Test Root", root_key, _name("Test Root"), root_key)
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = _ca("Test Intermediate", intermediate_key, root.subject, root_key)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=6))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), True
        )
        .sign(intermediate_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return IssuedChain(
        leaf_pem=leaf.public_bytes(pem).decode(),
        chain_pem=intermediate.public_bytes(pem).decode(),
        leaf=leaf,
        intermediate=intermediate,
    )
