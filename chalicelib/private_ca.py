"""The built-in private CA: a root, one issuing intermediate, leaves and a CRL.

This CA serves the local stack and tests; it is not publicly trusted. Its
files live in one directory::

    root.pem          root certificate (EC P-384, 10 years)       0644
    root.key          root private key, PKCS #8 PEM               0600
    intermediate.pem  issuing CA certificate (EC P-256, 5 years)  0644
    intermediate.key  issuing CA private key, PKCS #8 PEM         0600

Certificates follow the RFC 5280 profile and, where it applies to a private
CA, the CA/Browser Forum Baseline Requirements (BR). Errors:

    CAError      the CA files are missing, unreadable or do not fit together
    ValueError   a caller misused issue_leaf, issue_tls_server_leaf or
                 build_crl (bad serial, dates, names)
    TypeError    a caller passed a key type we never sign for
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chalicelib.names import subject_common_name

ROOT_CERTIFICATE_FILE = "root.pem"
ROOT_KEY_FILE = "root.key"
INTERMEDIATE_CERTIFICATE_FILE = "intermediate.pem"
INTERMEDIATE_KEY_FILE = "intermediate.key"

ROOT_LIFETIME = timedelta(days=3650)
INTERMEDIATE_LIFETIME = timedelta(days=5 * 365)

# Backdating by a few minutes keeps a just-issued certificate valid on a
# machine whose clock runs slightly behind ours. Callers that choose their own
# not_valid_before (issue_tls_server_leaf) use it too.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)

# CA/B BR §7.1: serial numbers are non-sequential, greater than zero and hold
# at least 64 bits of CSPRNG output. We refuse anything under 2**63 as a sign
# that the caller did not use random_serial_number().
MIN_SERIAL_NUMBER = 2**63

# RFC 5280 §4.1.2.2: a serial number is at most 20 octets, which for a
# positive DER INTEGER means below 2**159.
SERIAL_NUMBER_LIMIT = 2**159

# CA/B BR §6.3.2 caps a subscriber certificate at 398 days; shorter caps
# (ballot SC-081) are the caller's business, see chalicelib.config.
MAX_LEAF_LIFETIME = timedelta(days=398)

_ROOT_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certmint (local)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "certmint Local Root CA R1"),
    ]
)
_INTERMEDIATE_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certmint (local)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "certmint Local Issuing CA E1"),
    ]
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class CAError(Exception):
    """The CA files are missing, unreadable, or do not form a valid CA."""


@dataclass(frozen=True)
class CertificateAuthority:
    """The issuing intermediate with its key, and the root that signed it."""

    root_certificate: x509.Certificate
    intermediate_certificate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        # The default dataclass repr would print the key object; keep even
        # its address out of logs.
        return f"CertificateAuthority(issuer_id={self.issuer_id!r})"

    @property
    def issuer_id(self) -> str:
        """A short, stable id of the intermediate: 16 hex digits of SHA-256 of
        its SubjectPublicKeyInfo DER. It changes only when the key changes."""
        spki = self.intermediate_certificate.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return hashlib.sha256(spki).hexdigest()[:16]

    def chain_pem(self) -> str:
        """The chain a server sends after its leaf: the intermediate only.

        The root is left out on purpose: a relying party must already trust
        it, and sending it only costs bytes in each handshake.
        """
        return _pem(self.intermediate_certificate)

    def root_pem(self) -> str:
        """The root certificate, for relying parties to add to their trust store."""
        return _pem(self.root_certificate)


def random_serial_number() -> int:
    """Return a fresh serial number with 127 bits from ``secrets``.

    The top bit of 128 is always set, so the number is positive, never below
    ``MIN_SERIAL_NUMBER`` and 17 octets in DER, inside RFC 5280's 20-octet
    limit; the 127 random bits exceed the 64 the CA/B BR §7.1 ask for.
    """
    return (1 << 127) | secrets.randbits(127)


def ensure_ca_files(directory: Path, *, now: datetime | None = None) -> None:
    """Create the CA files in ``directory`` unless they already exist.

    Idempotent: an existing CA is loaded, never replaced, and a second call
    changes no byte. The directory is created with mode 0700, keys with 0600
    and certificates with 0644, each through a temporary file that is linked
    into place only once complete, so a reader never sees a partial file.
    Two processes racing here end up with the same CA: the first to link a
    file wins and the other loads it. A crash between a key and its
    certificate is repaired by the next call, which certifies the key it
    finds. Raises ``CAError`` when the existing files do not fit together.
    """
    now = _utc(now)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    root_certificate_path = directory / ROOT_CERTIFICATE_FILE
    intermediate_certificate_path = directory / INTERMEDIATE_CERTIFICATE_FILE
    intermediate_key_path = directory / INTERMEDIATE_KEY_FILE
    if (
        root_certificate_path.exists()
        and intermediate_certificate_path.exists()
        and intermediate_key_path.exists()
    ):
        # Complete already. The root key may have been moved offline, which
        # is good practice; we do not need it until the intermediate expires.
        return

    _refuse_orphan_certificate(root_certificate_path, directory / ROOT_KEY_FILE)
    _refuse_orphan_certificate(intermediate_certificate_path, intermediate_key_path)

    root_key = _ensure_key(directory / ROOT_KEY_FILE, ec.SECP384R1())
    root_certificate = _ensure_certificate(
        root_certificate_path,
        root_key,
        lambda: _make_root_certificate(root_key, now),
    )

    intermediate_key = _ensure_key(intermediate_key_path, ec.SECP256R1())
    _ensure_certificate(
        intermediate_certificate_path,
        intermediate_key,
        lambda: _make_intermediate_certificate(
            intermediate_key, root_certificate, root_key, now
        ),
    )


def load_ca(directory: Path) -> CertificateAuthority:
    """Load the intermediate (certificate and key) and the root from ``directory``.

    Raises ``CAError`` when a file is missing or unreadable, when the
    intermediate key does not match its certificate, or when the root did not
    sign the intermediate.
    """
    root_certificate = _read_certificate(directory / ROOT_CERTIFICATE_FILE)
    intermediate_certificate = _read_certificate(
        directory / INTERMEDIATE_CERTIFICATE_FILE
    )
    intermediate_key = _read_ec_key(directory / INTERMEDIATE_KEY_FILE)

    if not _same_public_key(intermediate_key, intermediate_certificate):
        raise CAError(
            f"{directory / INTERMEDIATE_KEY_FILE} does not match "
            f"{directory / INTERMEDIATE_CERTIFICATE_FILE}."
        )
    try:
        intermediate_certificate.verify_directly_issued_by(root_certificate)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise CAError(
            f"{directory / INTERMEDIATE_CERTIFICATE_FILE} was not issued by "
            f"{directory / ROOT_CERTIFICATE_FILE}."
        ) from error
    return CertificateAuthority(
        root_certificate=root_certificate,
        intermediate_certificate=intermediate_certificate,
        intermediate_key=intermediate_key,
    )


def issue_leaf(
    ca: CertificateAuthority,
    *,
    public_key: PublicKey,
    names: Sequence[str],
    serial_number: int,
    not_valid_before: datetime,
    not_valid_after: datetime,
    crl_url: str | None,
) -> x509.Certificate:
    """Sign a TLS server certificate for ``names`` with the intermediate.

    ``names`` must already be normalized (chalicelib.names); each becomes a
    dNSName SAN, and the subject CN is the first name of at most 64
    characters, or the subject is empty and the SAN extension critical
    (RFC 5280 §4.2.1.6). Other extensions: BasicConstraints CA:FALSE and
    KeyUsage (both critical), EKU serverAuth, SKI, AKI and, when ``crl_url``
    is given, CRL Distribution Points.

    Raises ``ValueError`` for no names, a serial number outside
    [2**63, 2**159), naive or inverted dates, a lifetime over 398 days or a
    not_valid_after past the intermediate's; ``TypeError`` for a key that is
    neither RSA nor EC.
    """
    if not names:
        raise ValueError("A leaf certificate needs at least one name.")
    not_valid_before, not_valid_after = _check_leaf_arguments(
        public_key, serial_number, not_valid_before, not_valid_after
    )
    if not_valid_after - not_valid_before > MAX_LEAF_LIFETIME:
        raise ValueError("A leaf certificate may be valid for 398 days at most.")
    if not_valid_after > ca.intermediate_certificate.not_valid_after_utc:
        # RFC 5280 does not forbid it, but many relying parties reject a leaf
        # once its issuer has expired, so such a leaf would die early.
        # TODO: rotate the intermediate well before it comes within one leaf
        # lifetime of its not_valid_after (in about four years).
        raise ValueError("A leaf certificate may not outlast its issuer.")

    return _sign_leaf(
        ca,
        public_key=public_key,
        general_names=[x509.DNSName(name) for name in names],
        common_name=subject_common_name(names),
        serial_number=serial_number,
        not_valid_before=not_valid_before,
        not_valid_after=not_valid_after,
        crl_url=crl_url,
    )


def build_crl(
    ca: CertificateAuthority,
    revoked: Iterable[tuple[int, datetime]],
    *,
    now: datetime,
    next_update: datetime,
    crl_number: int,
) -> bytes:
    """Return a DER CRL (RFC 5280 §5) signed by the intermediate.

    It lists one entry per ``(serial_number, revocation_date)`` and carries
    the CRLNumber and AuthorityKeyIdentifier extensions §5.2 requires.
    ``crl_number`` must grow with every CRL published. Raises ``ValueError``
    for naive dates, ``next_update`` not after ``now``, or a CRL number
    outside [0, 2**159) (§5.2.3: at most 20 octets).
    """
    now = _aware(now, "now")
    next_update = _aware(next_update, "next_update")
    if next_update <= now:
        raise ValueError("next_update must be later than now.")
    if not 0 <= crl_number < SERIAL_NUMBER_LIMIT:
        raise ValueError("crl_number must be in [0, 2**159) (RFC 5280 §5.2.3).")

    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.intermediate_certificate.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(_authority_key_identifier(ca.intermediate_certificate), False)
    )
    for serial_number, revocation_date in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial_number)
            .revocation_date(_aware(revocation_date, "revocation_date"))
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(ca.intermediate_key, _signature_hash(ca.intermediate_key))
    return crl.public_bytes(serialization.Encoding.DER)


def tls_server_names(
    hostnames: Sequence[str], ip_addresses: Sequence[str]
) -> list[x509.GeneralName]:
    """Return the subjectAltName entries of a TLS server leaf, in a stable order.

    Each host name becomes a lower-cased dNSName and each IP address (IPv4 or
    IPv6 text) an iPAddress; duplicates collapse, and the list is sorted so
    that the same inputs always give the same certificate. A caller deciding
    whether an existing certificate still fits compares its SANs with this.
    Raises ``ValueError`` when both sequences are empty or an IP address does
    not parse.
    """
    wanted: set[x509.GeneralName] = {x509.DNSName(h.lower()) for h in hostnames}
    wanted |= {x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses}
    if not wanted:
        raise ValueError("A server certificate needs a host name or an IP address.")
    return sorted(wanted, key=str)


def issue_tls_server_leaf(
    ca: CertificateAuthority,
    *,
    public_key: PublicKey,
    hostnames: Sequence[str],
    ip_addresses: Sequence[str],
    not_valid_before: datetime,
    not_valid_after: datetime,
    serial_number: int,
) -> x509.Certificate:
    """Sign a TLS server certificate that may name IP addresses, not only hosts.

    This is for servers we run ourselves, such as the local stack's, which a
    client may reach by ``127.0.0.1``; subscriber certificates go through
    ``issue_leaf``, which names DNS names only. The SANs are
    ``tls_server_names(hostnames, ip_addresses)``; the subject CN is the first
    host name, lower-cased, or the subject is empty (and the SAN extension
    critical) when there is none. The other extensions are those of
    ``issue_leaf``, without CRL Distribution Points. The caller chooses the
    lifetime; nothing caps it here beyond the dates' order.

    Raises ``ValueError`` for no names, an unparsable IP address, a serial
    number outside [2**63, 2**159), naive or inverted dates; ``TypeError`` for
    a key that is neither RSA nor EC.
    """
    general_names = tls_server_names(hostnames, ip_addresses)
    not_valid_before, not_valid_after = _check_leaf_arguments(
        public_key, serial_number, not_valid_before, not_valid_after
    )

    return _sign_leaf(
        ca,
        public_key=public_key,
        general_names=general_names,
        common_name=hostnames[0].lower() if hostnames else None,
        serial_number=serial_number,
        not_valid_before=not_valid_before,
        not_valid_after=not_valid_after,
        crl_url=None,
    )


# --- certificate building -------------------------------------------------


def _make_root_certificate(
    key: ec.EllipticCurvePrivateKey, now: datetime
) -> x509.Certificate:
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_ROOT_SUBJECT)
        .issuer_name(_ROOT_SUBJECT)
        .public_key(public_key)
        .serial_number(random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        .sign(key, _signature_hash(key))
    )


def _make_intermediate_certificate(
    key: ec.EllipticCurvePrivateKey,
    root_certificate: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    public_key = key.public_key()
    not_valid_after = min(
        now + INTERMEDIATE_LIFETIME, root_certificate.not_valid_after_utc
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_INTERMEDIATE_SUBJECT)
        .issuer_name(root_certificate.subject)
        .public_key(public_key)
        .serial_number(random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(not_valid_after)
        # pathlen 0: this CA issues leaves only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        # BR §7.1.2.2: an issuing CA restricted to TLS server certificates.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        .add_extension(_authority_key_identifier(root_certificate), critical=False)
        .sign(root_key, _signature_hash(root_key))
    )


def _sign_leaf(
    ca: CertificateAuthority,
    *,
    public_key: PublicKey,
    general_names: Sequence[x509.GeneralName],
    common_name: str | None,
    serial_number: int,
    not_valid_before: datetime,
    not_valid_after: datetime,
    crl_url: str | None,
) -> x509.Certificate:
    if common_name is None:
        subject = x509.Name([])
    else:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    # RFC 5280 §4.2.1.3 / BR §7.1.2.7.11: keyEncipherment only makes sense
    # for RSA key transport; an EC key signs and nothing else.
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )

    # TODO: add the CA/B certificatePolicies OID (2.23.140.1.2.1) only if
    # this CA ever becomes subject to the BR; asserting it unaudited would
    # be a false claim, so a private CA leaves it out.
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.intermediate_certificate.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_valid_before)
        .not_valid_after(not_valid_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(key_usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        # RFC 5280 §4.2.1.6: with an empty subject, the SAN must be critical.
        .add_extension(
            x509.SubjectAlternativeName(list(general_names)),
            critical=common_name is None,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        .add_extension(
            _authority_key_identifier(ca.intermediate_certificate), critical=False
        )
    )
    if crl_url is not None:
        distribution_point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(
            x509.CRLDistributionPoints([distribution_point]), critical=False
        )
    return builder.sign(ca.intermediate_key, _signature_hash(ca.intermediate_key))


def _ca_key_usage() -> x509.KeyUsage:
    # digitalSignature too, so the CA key could sign OCSP responses itself.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_identifier(
    issuer: x509.Certificate,
) -> x509.AuthorityKeyIdentifier:
    # RFC 5280 §4.2.1.1: the AKI repeats the issuer's SKI when it has one.
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            _ec_public_key(issuer)
        )
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _signature_hash(
    key: ec.EllipticCurvePrivateKey,
) -> hashes.SHA256 | hashes.SHA384:
    # Match the hash strength to the curve (BR §7.1.3.2.2: P-256 with
    # SHA-256, P-384 with SHA-384).
    if key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _check_leaf_arguments(
    public_key: object,
    serial_number: int,
    not_valid_before: datetime,
    not_valid_after: datetime,
) -> tuple[datetime, datetime]:
    # What every leaf needs, whatever it names; returns the dates in UTC.
    _check_subscriber_key(public_key)
    _check_serial_number(serial_number)
    not_valid_before = _aware(not_valid_before, "not_valid_before")
    not_valid_after = _aware(not_valid_after, "not_valid_after")
    if not_valid_after <= not_valid_before:
        raise ValueError("not_valid_after must be later than not_valid_before.")
    return not_valid_before, not_valid_after


def _check_subscriber_key(public_key: object) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        # BR §6.1.5: RSA moduli of at least 2048 bits.
        if public_key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits.")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        # BR §6.1.5: NIST P-256, P-384 or P-521; we sign the first two only.
        if not isinstance(public_key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise ValueError("EC keys must be on P-256 or P-384.")
        return
    raise TypeError("The subscriber key must be an RSA or EC public key.")


def _check_serial_number(serial_number: int) -> None:
    if not MIN_SERIAL_NUMBER <= serial_number < SERIAL_NUMBER_LIMIT:
        raise ValueError(
            "serial_number must be in [2**63, 2**159): at least 64 random bits "
            "(CA/B BR §7.1) and at most 20 octets (RFC 5280 §4.1.2.2); use "
            "random_serial_number()."
        )


# --- the CA files -----------------------------------------------------------


def _refuse_orphan_certificate(certificate_path: Path, key_path: Path) -> None:
    # A certificate whose key is gone cannot be completed; making a new key
    # would silently replace a CA that relying parties may already trust.
    if certificate_path.exists() and not key_path.exists():
        raise CAError(
            f"{certificate_path} exists but {key_path} does not; restore the "
            "key or remove the certificate to start a new CA."
        )


def _ensure_key(path: Path, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        key = ec.generate_private_key(curve)
        try:
            write_atomic(path, _key_pem(key), 0o600, exclusive=True)
        except FileExistsError:
            pass  # Another process won the race; use its key, below.
        else:
            return key
    return _read_ec_key(path)


def _ensure_certificate(
    path: Path,
    key: ec.EllipticCurvePrivateKey,
    make: Callable[[], x509.Certificate],
) -> x509.Certificate:
    if not path.exists():
        certificate = make()
        try:
            write_atomic(path, _pem(certificate).encode("ascii"), 0o644, exclusive=True)
        except FileExistsError:
            pass  # Another process won the race; use its certificate, below.
        else:
            return certificate
    certificate = _read_certificate(path)
    if not _same_public_key(key, certificate):
        raise CAError(f"{path} does not match the key next to it; refusing to go on.")
    return certificate


def _read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as error:
        raise CAError(f"The CA file {path} is missing.") from error
    except (OSError, ValueError) as error:
        raise CAError(
            f"The CA file {path} is not a readable PEM certificate."
        ) from error


def _read_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as error:
        raise CAError(f"The CA file {path} is missing.") from error
    except (OSError, ValueError, TypeError):
        # Never chain the parser's message: it could quote key bytes.
        raise CAError(
            f"The CA file {path} is not a readable PEM private key."
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"The CA file {path} does not hold an EC private key.")
    return key


def write_atomic(path: Path, data: bytes, mode: int, *, exclusive: bool) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new.

    The bytes go to a temporary file in the same directory, created with
    ``mode`` in the same call (O_CREAT|O_EXCL, so a key is never readable
    by others even under umask 000), fsynced, then moved into place. With
    ``exclusive``, the move is a hard link that fails with
    ``FileExistsError`` when ``path`` exists, which settles races between
    processes; otherwise ``path`` is replaced. The previous file survives
    any failure. The local stack writes its server key and certificate with
    it too (devstack.tls), so chalicelib and devstack share one implementation.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            # The umask may have taken bits away; the mode we promise is exact.
            os.fchmod(descriptor, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if exclusive:
            # TODO: filesystems without hard links (some FUSE mounts) fail
            # here; none of ours (ext4, tmpfs, Lambda /tmp) do.
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable across a power loss.
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- small helpers ----------------------------------------------------------


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # TODO: encrypt CA keys at rest (KMS or a passphrase) before this CA
    # signs anything outside the local stack.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _same_public_key(
    key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> bool:
    return _spki(key.public_key()) == _spki(certificate.public_key())


def _spki(public_key: object) -> bytes:
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ec_public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CAError("The CA certificate does not hold an EC public key.")
    return public_key


def _utc(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _aware(now, "now")


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field} must be a timezone-aware datetime.")
    return moment.astimezone(UTC)
