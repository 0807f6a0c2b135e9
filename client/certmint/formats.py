"""File names and contents of the certificate formats the client writes.

For a certificate named NAME, with the file stem described in
:func:`file_stem`:

    key_directory/   NAME.key            private key, 0600 on creation
                     NAME.key.new        a rekey's new key until its certificate lands
                     NAME.combined.pem   key + leaf + chain (haproxy), key's mode
                     NAME.p12            PKCS#12, no password, key's mode
    cert_directory/  NAME.crt            leaf only
                     NAME.chain.crt      intermediates only (no root)
                     NAME.chained.crt    leaf + intermediates (nginx, apache)
                     NAME.csr            from ``certmint req`` only

The key-bearing formats live next to the key because that directory is the one
an operator locks down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certmint.errors import ClientError
from certmint.keys import PrivateKey

# Underscores are never valid in a certificate hostname (RFC 5280, 4.2.1.6
# requires the "preferred name syntax" of RFC 1034, letters, digits and
# hyphens), so ``_wildcard.example.com`` cannot be the stem of a real name.
WILDCARD_STEM_PREFIX = "_wildcard."

# What a normalized certificate name can hold (docs/api.md: lowercase A-labels),
# with an optional leading "*." for wildcards. Anything else (a slash, "..",
# a leading dot) would let a name escape or hide in the directory.
_NAME_PATTERN = re.compile(r"(\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")

KEY_SUFFIX = ".key"
NEW_KEY_SUFFIX = ".key.new"
CERTIFICATE_SUFFIX = ".crt"
CHAIN_SUFFIX = ".chain.crt"
CHAINED_SUFFIX = ".chained.crt"
COMBINED_SUFFIX = ".combined.pem"
PKCS12_SUFFIX = ".p12"
CSR_SUFFIX = ".csr"
ALL_SUFFIXES = (
    KEY_SUFFIX,
    NEW_KEY_SUFFIX,
    CERTIFICATE_SUFFIX,
    CHAIN_SUFFIX,
    CHAINED_SUFFIX,
    COMBINED_SUFFIX,
    PKCS12_SUFFIX,
    CSR_SUFFIX,
)


def file_stem(certificate_name: str) -> str:
    """Return the shell-safe file stem for ``certificate_name``.

    ``*.example.com`` becomes ``_wildcard.example.com``; other names are used
    as they are. Raises :class:`ClientError` for a name that is not a
    normalized DNS name, so no path can be built from it.
    """
    if (
        not _NAME_PATTERN.fullmatch(certificate_name)
        or ".." in certificate_name
        or len(certificate_name) > 253
    ):
        raise ClientError(
            f"the certificate name {certificate_name!r} cannot be used as a file name"
        )
    if certificate_name.startswith("*."):
        return WILDCARD_STEM_PREFIX + certificate_name[2:]
    return certificate_name


@dataclass(frozen=True)
class CertificatePaths:
    """Where the files of one certificate live."""

    stem: str
    key_directory: Path
    cert_directory: Path

    @classmethod
    def for_name(
        cls, certificate_name: str, key_directory: Path, cert_directory: Path
    ) -> CertificatePaths:
        """Build the paths of ``certificate_name``; see :func:`file_stem`."""
        return cls(file_stem(certificate_name), key_directory, cert_directory)

    def _key_file(self, suffix: str) -> Path:
        return self.key_directory / f"{self.stem}{suffix}"

    def _cert_file(self, suffix: str) -> Path:
        return self.cert_directory / f"{self.stem}{suffix}"

    @property
    def key(self) -> Path:
        return self._key_file(KEY_SUFFIX)

    @property
    def new_key(self) -> Path:
        return self._key_file(NEW_KEY_SUFFIX)

    @property
    def combined(self) -> Path:
        return self._key_file(COMBINED_SUFFIX)

    @property
    def pkcs12(self) -> Path:
        return self._key_file(PKCS12_SUFFIX)

    @property
    def certificate(self) -> Path:
        return self._cert_file(CERTIFICATE_SUFFIX)

    @property
    def chain(self) -> Path:
        return self._cert_file(CHAIN_SUFFIX)

    @property
    def chained(self) -> Path:
        return self._cert_file(CHAINED_SUFFIX)

    @property
    def csr(self) -> Path:
        return self._cert_file(CSR_SUFFIX)

    def file_names(self) -> list[str]:
        """Return the base names of every file this certificate may have."""
        return [f"{self.stem}{suffix}" for suffix in ALL_SUFFIXES]


@dataclass(frozen=True)
class CertificateBundle:
    """A leaf certificate and its intermediates, leaf's issuer first."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def from_pem(cls, leaf_pem: str, chain_pem: str) -> CertificateBundle:
        """Parse the ``certificate`` and ``chain`` fields of ``GET .../current``.

        Raises :class:`ClientError` if either does not parse, if the leaf field
        holds other than one certificate, or if the chain's first certificate
        did not sign the leaf.
        """
        try:
            leaves = x509.load_pem_x509_certificates(leaf_pem.encode("ascii"))
            chain = (
                x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
                if chain_pem.strip()
                else []
            )
        except ValueError as error:
            raise ClientError(
                f"the server sent a certificate that cannot be parsed: {error}"
            ) from error
        if len(leaves) != 1:
            raise ClientError(
                f"the server sent {len(leaves)} leaf certificates instead of one"
            )
        if chain:
            try:
                leaves[0].verify_directly_issued_by(chain[0])
            except (ValueError, TypeError, InvalidSignature) as error:
                raise ClientError(
                    "the chain from the server does not start with the issuer of "
                    "the certificate"
                ) from error
        return cls(leaf=leaves[0], chain=tuple(chain))

    def leaf_pem(self) -> bytes:
        """Return the leaf alone, as PEM (``NAME.crt``)."""
        return self.leaf.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """Return the intermediates, as concatenated PEM (``NAME.chain.crt``)."""
        return b"".join(
            cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain
        )

    def chained_pem(self) -> bytes:
        """Return leaf then intermediates (``NAME.chained.crt``)."""
        return self.leaf_pem() + self.chain_pem()

    def combined_pem(self, key_pem: bytes) -> bytes:
        """Return key, leaf and intermediates (``NAME.combined.pem``)."""
        if not key_pem.endswith(b"\n"):
            key_pem += b"\n"
        return key_pem + self.chained_pem()

    def pkcs12(self, key: PrivateKey, friendly_name: str) -> bytes:
        """Return a PKCS#12 file of key, leaf and chain with no password.

        Its protection is the file mode, like the key file's. The output is not
        byte-stable (random salts), so compare with :meth:`pkcs12_matches`.
        """
        return pkcs12.serialize_key_and_certificates(
            friendly_name.encode("utf-8"),
            key,
            self.leaf,
            list(self.chain) or None,
            serialization.NoEncryption(),
        )

    def pkcs12_matches(self, data: bytes, key: PrivateKey) -> bool:
        """Tell whether ``data`` is a PKCS#12 file of exactly this key and chain.

        Used only to decide whether a rewrite is needed; an unreadable file
        counts as different and gets rewritten.
        """
        try:
            loaded = pkcs12.load_pkcs12(data, None)
        except ValueError:
            return False
        if loaded.key is None or loaded.cert is None:
            return False
        der = serialization.Encoding.DER
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        same_key = loaded.key.public_key().public_bytes(der, spki) == (
            key.public_key().public_bytes(der, spki)
        )
        same_chain = [c.certificate for c in loaded.additional_certs] == list(
            self.chain
        )
        return same_key and loaded.cert.certificate == self.leaf and same_chain
