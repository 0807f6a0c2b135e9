"""Issuers: who signs the certificates.

The built-in private CA (the local default) signs at once. An ACME CA, later,
will answer asynchronously; the certificate code already treats issuance as a
step that may be pending and is advanced, idempotently, on later reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib import private_ca
from chalicelib.config import Settings

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# Back-date notBefore a little so that a relying party whose clock runs a few
# minutes slow does not reject a certificate fresh from the CA. The CA/B
# Forum Baseline Requirements (§7.1.2.7) allow up to 48 hours.
BACKDATE = timedelta(minutes=5)
# Relying parties fetch the CRL again after nextUpdate (RFC 5280 §5.1.2.5).
CRL_VALIDITY = timedelta(days=1)


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_pem: str
    chain_pem: str
    not_valid_before: datetime
    not_valid_after: datetime


class Issuer(Protocol):
    """What the certificate code needs from a CA."""

    @property
    def issuer_id(self) -> str:
        """A short, stable identifier of the issuing key (used in storage keys)."""
        ...

    def issue(
        self,
        *,
        public_key: PublicKey,
        names: Sequence[str],
        serial_number: int,
        now: datetime,
    ) -> IssuedCertificate:
        """Sign a certificate. Safe to repeat: only the caller's conditional
        write decides which signature is ever stored."""
        ...

    def crl(
        self, revoked: Iterable[tuple[int, datetime]], now: datetime, number: int
    ) -> bytes:
        """The DER CRL listing ``revoked`` (serial number, revocation date).

        ``number`` is the CRL number, which must grow with every CRL made
        (RFC 5280 §5.2.3).
        """
        ...


class PrivateCAIssuer:
    """The built-in private CA, whose files live in ``settings.ca_directory``.

    It does not validate control of the names: trust its root only where you
    decide who may get certificates. TODO: in AWS, keep the intermediate key in
    KMS (asymmetric signing) instead of a file, before any public deployment.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ca = private_ca.load_ca(settings.ca_directory)

    @property
    def issuer_id(self) -> str:
        return self._ca.issuer_id

    def issue(
        self,
        *,
        public_key: PublicKey,
        names: Sequence[str],
        serial_number: int,
        now: datetime,
    ) -> IssuedCertificate:
        not_valid_before = now - BACKDATE
        lifetime = timedelta(days=self._settings.lifetime_days(now))
        certificate = private_ca.issue_leaf(
            self._ca,
            public_key=public_key,
            names=names,
            serial_number=serial_number,
            not_valid_before=not_valid_before,
            not_valid_after=not_valid_before + lifetime,
            crl_url=f"{self._settings.public_url}/v1/crl",
        )
        return IssuedCertificate(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(
                "ascii"
            ),
            chain_pem=self._ca.chain_pem(),
            not_valid_before=not_valid_before,
            not_valid_after=not_valid_before + lifetime,
        )

    def crl(
        self, revoked: Iterable[tuple[int, datetime]], now: datetime, number: int
    ) -> bytes:
        return private_ca.build_crl(
            self._ca,
            revoked,
            now=now,
            next_update=now + CRL_VALIDITY,
            crl_number=number,
        )
