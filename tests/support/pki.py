"""Helpers shared by the private CA and local-stack TLS tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store

from chalicelib.private_ca import CertificateAuthority

# One fixed "now" per test session, whole seconds (as certificates store it).
NOW = datetime.now(UTC).replace(microsecond=0)


def verify_for(
    ca: CertificateAuthority,
    leaf: x509.Certificate,
    subject: DNSName | IPAddress,
    intermediates: list[x509.Certificate] | None = None,
) -> list[x509.Certificate]:
    """Verify ``leaf`` as a TLS server for ``subject`` an hour after ``NOW``,
    trusting only ``ca``'s root; returns the chain, raises VerificationError."""
    verifier = (
        PolicyBuilder()
        .store(Store([ca.root_certificate]))
        .time(NOW + timedelta(hours=1))
        .build_server_verifier(subject)
    )
    if intermediates is None:
        intermediates = [ca.intermediate_certificate]
    return verifier.verify(leaf, intermediates)


def extension(certificate: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    """Return ``certificate``'s extension of class ``kind``; raises if absent."""
    return certificate.extensions.get_extension_for_class(kind)
