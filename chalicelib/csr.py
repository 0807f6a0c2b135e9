"""Checks on a certificate signing request (PKCS #10, RFC 2986) from a client.

A CSR is untrusted input. :func:`parse_csr` accepts exactly one PEM block,
proves that the requester holds the private key (the CSR's self-signature),
allows only the key types the CA/B Forum Baseline Requirements (BR §6.1.5)
and our issuer support, and returns the normalized names it asks for. Every
refusal is a ``BadRequest`` with a stable code:

    invalid_csr         not one PEM CSR, too big, undecodable, bad signature
    unsupported_key     not RSA 2048/3072/4096 (e = 65537) or ECDSA P-256/P-384
    invalid_name        a name inside fails chalicelib.names
    too_many_names      more than chalicelib.names.MAX_NAMES names
    csr_names_mismatch  the CSR's names differ from the certificate's
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from chalicelib.errors import BadRequest
from chalicelib.names import normalize_names, quote

# A CSR for 100 names near the 253-character limit with an RSA 4096 key is
# about 36 KiB of PEM; the cap leaves room for that and stays under the API's
# 64 KiB body limit.
MAX_CSR_PEM_BYTES = 48 * 1024

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa2048", "rsa3072", "rsa4096")

# BR §6.1.5 asks for RSA moduli of at least 2048 bits and divisible by 8; we
# take the three sizes every TLS stack handles. Bigger keys only slow every
# handshake and give the requester a cheap way to make us do work.
_RSA_KEY_SIZES = (2048, 3072, 4096)

# BR §6.1.6: the RSA public exponent is odd, at least 3 and, as every
# mainstream tool makes it, 65537; odd choices often mean a broken generator.
_RSA_PUBLIC_EXPONENT = 65537

_EC_KEY_TYPES: dict[type[ec.EllipticCurve], str] = {
    ec.SECP256R1: "ecdsa-p256",
    ec.SECP384R1: "ecdsa-p384",
}

# RFC 7468 §2 labels; "NEW CERTIFICATE REQUEST" is the older spelling some
# tools (Windows certreq, old OpenSSL) still write.
_CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
_PEM_BEGIN = re.compile(r"-----BEGIN ([^\r\n]{0,64}?)-----")

# How many names a mismatch message lists before it says "and N more".
_NAMES_IN_MESSAGES = 10


@dataclass(frozen=True)
class CheckedCSR:
    """A CSR that passed :func:`parse_csr`, reduced to what issuance needs."""

    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    key_type: str
    names: tuple[str, ...]
    public_key_sha256: str


def parse_csr(pem: str) -> CheckedCSR:
    """Check a PEM CSR and return its key and normalized names.

    ``names`` are the DNS names of the subjectAltName extension, in order,
    then the subject CN when it looks like a DNS name (has a dot, no spaces)
    and is not already among them, all normalized by chalicelib.names.

    Raises ``BadRequest`` with ``invalid_csr`` when the text is over
    ``MAX_CSR_PEM_BYTES``, holds anything but exactly one CSR block, does not
    decode, asks for a non-DNS name, names nothing, or its signature does not
    verify; ``unsupported_key`` for a key outside ``KEY_TYPES``; and what
    chalicelib.names raises for its names.
    """
    csr = _load_one_csr(pem)

    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise BadRequest(
            "unsupported_key",
            "The CSR's key is of a type certmint does not know; use ECDSA "
            "P-256 or P-384, or RSA with 2048, 3072 or 4096 bits.",
        ) from error
    public_key, key_type = _supported_key(public_key)

    try:
        signature_is_valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as error:
        raise BadRequest(
            "invalid_csr", "The CSR's signature uses an algorithm we do not support."
        ) from error
    if not signature_is_valid:
        raise BadRequest(
            "invalid_csr",
            "The CSR's signature does not verify: it was altered or signed "
            "with another key.",
        )

    return CheckedCSR(
        public_key=public_key,
        key_type=key_type,
        names=tuple(normalize_names(_requested_names(csr))),
        public_key_sha256=public_key_sha256(public_key),
    )


def key_type_of(public_key: object) -> str:
    """Return the certmint key type of ``public_key`` (one of ``KEY_TYPES``).

    Raises ``BadRequest("unsupported_key", ...)`` for any other key: RSA of
    another size or with an exponent other than 65537, EC curves other than
    P-256 and P-384, and every other algorithm (Ed25519, DSA, ...).
    """
    return _supported_key(public_key)[1]


def _supported_key(
    public_key: object,
) -> tuple[rsa.RSAPublicKey | ec.EllipticCurvePublicKey, str]:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size not in _RSA_KEY_SIZES:
            raise BadRequest(
                "unsupported_key",
                f"RSA keys of {public_key.key_size} bits are not supported; "
                "use 2048, 3072 or 4096 bits.",
            )
        if public_key.public_numbers().e != _RSA_PUBLIC_EXPONENT:
            raise BadRequest(
                "unsupported_key",
                "RSA keys must use the public exponent 65537.",
            )
        return public_key, f"rsa{public_key.key_size}"

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        key_type = _EC_KEY_TYPES.get(type(public_key.curve))
        if key_type is None:
            raise BadRequest(
                "unsupported_key",
                f"ECDSA keys on the curve {public_key.curve.name} are not "
                "supported; use P-256 or P-384.",
            )
        return public_key, key_type

    raise BadRequest(
        "unsupported_key",
        f"{_algorithm_name(public_key)} keys are not supported; use ECDSA "
        "P-256 or P-384, or RSA with 2048, 3072 or 4096 bits.",
    )


def public_key_sha256(public_key: PublicKeyTypes) -> str:
    """Return the lowercase hex SHA-256 of the key's SubjectPublicKeyInfo DER.

    This is the fingerprint the API reports as ``public_key_sha256`` and the
    one ``openssl pkey -pubin -outform DER | sha256sum`` prints.
    """
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def require_names_match(csr: CheckedCSR, names: Sequence[str]) -> None:
    """Raise unless the CSR asks for exactly ``names`` (as a set).

    ``names`` are the certificate's normalized names. Order and repetition do
    not matter; a missing or extra name does, and raises
    ``BadRequest("csr_names_mismatch", ...)`` listing both sides.
    """
    if set(csr.names) == set(names):
        return
    raise BadRequest(
        "csr_names_mismatch",
        f"The CSR lists {_list(csr.names)}, but the certificate has "
        f"{_list(names)}; make the CSR from exactly the certificate's names.",
    )


def _load_one_csr(pem: str) -> x509.CertificateSigningRequest:
    if not isinstance(pem, str):
        raise BadRequest("invalid_csr", "The CSR must be a PEM string.")
    if len(pem.encode("utf-8", errors="replace")) > MAX_CSR_PEM_BYTES:
        raise BadRequest(
            "invalid_csr",
            f"The CSR is larger than {MAX_CSR_PEM_BYTES} bytes of PEM.",
        )

    labels = _PEM_BEGIN.findall(pem)
    if any("PRIVATE KEY" in label for label in labels):
        # The key was already sent, so all we can do is say so clearly. We
        # neither store nor echo it.
        raise BadRequest(
            "invalid_csr",
            "The text holds a private key; send only the CSR, and make a new "
            "key since this one has left your machine.",
        )
    if len(labels) != 1 or labels[0] not in _CSR_LABELS:
        found = ", ".join(quote(label) for label in labels[:5]) or "none"
        raise BadRequest(
            "invalid_csr",
            "Send exactly one PEM block labelled 'CERTIFICATE REQUEST'; "
            f"found {len(labels)} block(s): {found}.",
        )

    try:
        return x509.load_pem_x509_csr(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise BadRequest(
            "invalid_csr", "The CSR is not valid PEM-encoded PKCS #10."
        ) from error


def _requested_names(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        general_names: list[x509.GeneralName] = list(extension.value)
    except x509.ExtensionNotFound:
        general_names = []
    except ValueError as error:  # includes x509.DuplicateExtension
        raise BadRequest(
            "invalid_csr", "The CSR's extensions do not decode."
        ) from error

    names: list[str] = []
    for general_name in general_names:
        if not isinstance(general_name, x509.DNSName):
            raise BadRequest(
                "invalid_csr",
                f"The CSR asks for {_describe(general_name)}; certmint issues "
                "certificates for DNS names only.",
            )
        names.append(general_name.value)

    for attribute in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        # A CN like "My Web Server" is a label, not a name to certify; one
        # that looks like a host name must pass the same checks as a SAN.
        if isinstance(value, str) and "." in value and not _has_space(value):
            names.append(value)

    if not names:
        raise BadRequest(
            "invalid_csr",
            "The CSR names no DNS name; list the certificate's names in its "
            "subjectAltName extension.",
        )
    return names


def _describe(general_name: x509.GeneralName) -> str:
    if isinstance(general_name, x509.IPAddress):
        return f"the IP address {general_name.value}"
    if isinstance(general_name, x509.RFC822Name):
        return f"the email address {quote(general_name.value)}"
    if isinstance(general_name, x509.UniformResourceIdentifier):
        return f"the URI {quote(general_name.value)}"
    return f"a name of type {type(general_name).__name__}"


def _algorithm_name(public_key: object) -> str:
    name = type(public_key).__name__
    return name.removesuffix("PublicKey") or "These"


def _has_space(value: str) -> bool:
    return any(character.isspace() for character in value)


def _list(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_IN_MESSAGES]) or "no names"
    hidden = len(names) - _NAMES_IN_MESSAGES
    return f"{shown} and {hidden} more" if hidden > 0 else shown
