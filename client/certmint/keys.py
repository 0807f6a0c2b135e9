"""Private keys and certificate signing requests (RFC 2986), made locally.

The private key never leaves this machine: the server only ever sees the CSR,
whose SubjectPublicKeyInfo it checks against the key types it accepts.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmint.errors import KeyMismatch, LocalFileError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

# The key types the API accepts (docs/api.md, unsupported_key). The names are
# the API's ``key_type`` values.
KEY_TYPES: tuple[str, ...] = (
    "ecdsa-p256",
    "ecdsa-p384",
    "rsa2048",
    "rsa3072",
    "rsa4096",
)
DEFAULT_KEY_TYPE = "ecdsa-p256"

_CURVES: dict[str, ec.EllipticCurve] = {
    "ecdsa-p256": ec.SECP256R1(),
    "ecdsa-p384": ec.SECP384R1(),
}
_RSA_BITS: dict[str, int] = {"rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096}

# RFC 5280, Appendix A.1: ub-common-name INTEGER ::= 64. A longer first name
# still goes in the SAN extension, which is what clients check anyway.
COMMON_NAME_MAX_LENGTH = 64

# F4, the public exponent every CA accepts (CA/B Baseline Requirements 6.1.6
# require an odd exponent of at least 3; 65537 is the universal choice).
_RSA_PUBLIC_EXPONENT = 65537


def generate_private_key(key_type: str) -> PrivateKey:
    """Generate a new private key of ``key_type`` (one of :data:`KEY_TYPES`).

    Raises ValueError for an unknown key type.
    """
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(
            public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[key_type]
        )
    raise ValueError(f"Unknown key type {key_type!r}; use one of {KEY_TYPES}.")


def key_type_of(key: PrivateKey | PublicKey) -> str:
    """Return the API's ``key_type`` name for ``key``.

    Raises ValueError for a key the API would refuse (another curve or size).
    """
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        for name, curve in _CURVES.items():
            if key.curve.name == curve.name:
                return name
        raise ValueError(f"The curve {key.curve.name} is not supported.")
    for name, bits in _RSA_BITS.items():
        if key.key_size == bits:
            return name
    raise ValueError(f"An RSA key of {key.key_size} bits is not supported.")


def private_key_pem(key: PrivateKey) -> bytes:
    """Serialize ``key`` as unencrypted PKCS#8 PEM, the form web servers read.

    The file mode (0600) is what protects it, as with every server key.
    """
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(data: bytes, source: str) -> PrivateKey:
    """Parse a PEM private key read from ``source`` (a path, for messages).

    Raises :class:`LocalFileError` if it is not an unencrypted PEM key of a
    supported type.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        # The parser's own message is not repeated: it could quote key bytes.
        raise LocalFileError(
            f"{source} is not an unencrypted PEM private key."
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise LocalFileError(f"{source} holds a key type certmint does not use.")
    return key


def signature_hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """Return the CSR signature hash: SHA-384 for P-384, SHA-256 otherwise.

    Pairing P-384 with SHA-384 keeps the hash as strong as the curve (NIST
    SP 800-57 Part 1, Table 3).
    """
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def subject_common_name(names: list[str]) -> str | None:
    """Return the CN for a CSR over ``names``: the first that fits, else None.

    The same rule as the server's certificates (RFC 5280's ub-common-name is
    64), so the CSR asks for what the certificate will say.
    """
    return next((n for n in names if len(n) <= COMMON_NAME_MAX_LENGTH), None)


def build_csr(key: PrivateKey, names: list[str]) -> bytes:
    """Return a PEM CSR for ``names`` (already normalized by the server).

    Every name becomes a DNS SAN in the given order; the subject holds only a
    CN, and only when the first name fits in 64 characters. Raises ValueError
    for an empty list.
    """
    if not names:
        raise ValueError("A CSR needs at least one name.")
    common_name = subject_common_name(names)
    attributes = (
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    )
    san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])

    # RFC 5280, 4.2.1.6: with an empty subject the SAN extension is critical.
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .add_extension(san, critical=not attributes)
    )
    csr = builder.sign(key, signature_hash_for(key))
    return csr.public_bytes(serialization.Encoding.PEM)


def public_key_sha256(key: PrivateKey | PublicKey) -> str:
    """Return the hex SHA-256 of the SubjectPublicKeyInfo DER, as the API does."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    der = public.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return hashlib.sha256(der).hexdigest()


def require_matching_key(
    certificate: x509.Certificate, key: PrivateKey, key_label: str
) -> None:
    """Raise :class:`KeyMismatch` unless ``certificate`` is for ``key``.

    Compares the SubjectPublicKeyInfo DER of both, so a certificate the server
    made for any other key, of any type, is refused.
    """
    expected = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    actual = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if actual != expected:
        raise KeyMismatch(
            f"the certificate from the server does not match the local key {key_label}"
        )
