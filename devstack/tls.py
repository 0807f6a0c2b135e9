"""TLS for the local servers: a server certificate from the private CA.

The CA itself lives in :mod:`chalicelib.private_ca`. This module keeps the
servers' key and certificate in ``home/tls`` (issuing, reusing and renewing
them, with the CA's signing and atomic-write functions) and builds the
server-side ``ssl.SSLContext``. The files::

    server.key  EC P-256 private key, PKCS #8 PEM        0600
    server.pem  leaf, then the intermediate (no root)    0644
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import private_ca
from chalicelib.private_ca import CertificateAuthority

# Names the server certificate covers: the URLs devstack prints use
# ``localhost``; ``127.0.0.1`` lets a client that skips name resolution verify
# too. Both are loopback only.
SERVER_HOSTNAMES = ("localhost",)
SERVER_IP_ADDRESSES = ("127.0.0.1",)

SERVER_CERTIFICATE_FILE = "server.pem"
SERVER_KEY_FILE = "server.key"
SERVER_CERTIFICATE_LIFETIME = timedelta(days=90)

# The local HTTPS servers get a fresh certificate once theirs has less than
# this left, so a stack started once a week never serves an expired one.
SERVER_CERTIFICATE_RENEW_BEFORE = timedelta(days=7)

# Forward secrecy (ECDHE) and AEAD only for TLS 1.2, as Mozilla's
# "intermediate" profile recommends; RFC 9325 (BCP 195) §4.2 asks for the
# same. TLS 1.3 suites (RFC 8446 §B.4) are all AEAD with ephemeral key
# exchange, so they need no filter. TLS 1.0 and 1.1 are deprecated by RFC 8996.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def prepare_certificates(home: Path) -> tuple[Path, Path, Path]:
    """Make sure the CA and a current server certificate exist under ``home``.

    The CA goes to ``home/ca`` (created on the first run, never replaced) and
    the server certificate to ``home/tls`` (re-issued when missing or close to
    expiry). Returns ``(root_certificate, server_chain, server_key)`` paths;
    the chain holds the leaf and the intermediate, not the root. Raises
    ``chalicelib.private_ca.CAError`` when existing CA files do not fit
    together: devstack never overwrites a CA it did not just make.
    """
    ca_directory = home / "ca"
    private_ca.ensure_ca_files(ca_directory)
    authority = private_ca.load_ca(ca_directory)
    chain, key = issue_server_certificate(
        authority,
        home / "tls",
        hostnames=SERVER_HOSTNAMES,
        ip_addresses=SERVER_IP_ADDRESSES,
    )
    return ca_directory / private_ca.ROOT_CERTIFICATE_FILE, chain, key


def issue_server_certificate(
    ca: CertificateAuthority,
    directory: Path,
    *,
    hostnames: Sequence[str] = SERVER_HOSTNAMES,
    ip_addresses: Sequence[str] = SERVER_IP_ADDRESSES,
    now: datetime | None = None,
) -> tuple[Path, Path]:
    """Make sure ``directory`` holds a TLS certificate for the local servers.

    Writes ``server.key`` (EC P-256, 0600) and ``server.pem`` (leaf, then the
    intermediate; no root) when the certificate is missing, unreadable,
    expires within 7 days, does not match the key, was not issued by ``ca``,
    or does not cover exactly ``hostnames`` and ``ip_addresses``. A usable
    existing key is kept, so the servers never see a key without its
    certificate. Idempotent otherwise. Returns
    ``(certificate_path, key_path)``. Raises ``ValueError`` for a naive
    ``now``, no names at all, or an IP address that does not parse.
    """
    now = _aware_now(now)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    certificate_path = directory / SERVER_CERTIFICATE_FILE
    key_path = directory / SERVER_KEY_FILE
    wanted = set(private_ca.tls_server_names(hostnames, ip_addresses))

    key = _load_server_key(key_path)
    if key is not None and _server_certificate_is_current(
        certificate_path, key, ca, wanted, now
    ):
        return certificate_path, key_path

    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        private_ca.write_atomic(key_path, key_pem, 0o600, exclusive=False)
    leaf = private_ca.issue_tls_server_leaf(
        ca,
        public_key=key.public_key(),
        hostnames=hostnames,
        ip_addresses=ip_addresses,
        not_valid_before=now - private_ca.CLOCK_SKEW_ALLOWANCE,
        not_valid_after=min(
            now + SERVER_CERTIFICATE_LIFETIME,
            ca.intermediate_certificate.not_valid_after_utc,
        ),
        serial_number=private_ca.random_serial_number(),
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.chain_pem().encode()
    private_ca.write_atomic(certificate_path, chain, 0o644, exclusive=False)
    return certificate_path, key_path


def server_context(chain: Path, key: Path) -> ssl.SSLContext:
    """A server ``SSLContext``: TLS 1.2 or newer, ECDHE with AEAD suites only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    # Renegotiation and compression have only ever brought attacks
    # (RFC 7457 §2.1 triple handshake, §2.6 CRIME).
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(certfile=chain, keyfile=key)
    return context


def _aware_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")
    return now.astimezone(UTC)


def _load_server_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    # Anything but a readable P-256 key means "make a new one": these files
    # are ours alone, and nothing else depends on the old key.
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return key
    return None


def _server_certificate_is_current(
    path: Path,
    key: ec.EllipticCurvePrivateKey,
    ca: CertificateAuthority,
    wanted: set[x509.GeneralName],
    now: datetime,
) -> bool:
    # A plain bool on purpose: "not current" is no failure, only the signal
    # to issue a fresh certificate.
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return False
    leaf = certificates[0]
    try:
        leaf.verify_directly_issued_by(ca.intermediate_certificate)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return (
        leaf.public_key() == key.public_key()
        and set(san.value) == wanted
        and leaf.not_valid_after_utc - now > SERVER_CERTIFICATE_RENEW_BEFORE
        and certificates[1:] == [ca.intermediate_certificate]
    )
