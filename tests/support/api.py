"""Helpers for tests that talk to the real API over HTTPS."""

from __future__ import annotations

import base64
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def client(api_url: str, root_ca: Path) -> httpx.Client:
    """An HTTPS client that trusts only the stack's root (never verify=False)."""
    context = ssl.create_default_context(cafile=str(root_ca))
    return httpx.Client(base_url=api_url, verify=context, timeout=30)


def strong_password() -> str:
    return "Cm-" + secrets.token_urlsafe(18)


@dataclass
class Account:
    """A signed-up account with a session and an API key."""

    http: httpx.Client
    email: str
    password: str
    session: str
    api_key: str
    id: str
    headers: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            **kwargs.pop("headers", {}),
        }
        return self.http.request(method, path, headers=headers, **kwargs)


def sign_up(http: httpx.Client) -> Account:
    email = f"user-{secrets.token_hex(6)}@example.test"
    password = strong_password()
    response = http.post("/v1/accounts", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    session = body["session"]["token"]
    response = http.post(
        "/v1/api-keys",
        json={"name": "tests"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert response.status_code == 201, response.text
    return Account(
        http,
        email,
        password,
        session,
        response.json()["key"],
        body["account"]["id"],
    )


def new_key(key_type: str = "ecdsa-p256") -> Any:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(65537, int(key_type[3:]))
    if key_type == "ecdsa-p521":
        return ec.generate_private_key(ec.SECP521R1())
    raise ValueError(key_type)


def make_csr(key: Any, names: list[str], common_name: str | None = None) -> str:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name or names[0])]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject if len(subject[0].value) <= 64 else []))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_secrets(key: Any) -> list[bytes]:
    """Every encoding of a private key that must never leave the client."""
    der_pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem_pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    numbers = key.private_numbers()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        raw = numbers.private_value.to_bytes(size, "big")
    else:
        raw = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
    # The PEM body's fixed header (algorithm identifiers) is the same for
    # every key of a type; only a run from its second half is this key's own.
    body = b"".join(pem_pkcs8.splitlines()[1:-1])
    middle = body[len(body) // 2 : len(body) // 2 + 40]
    return [
        der_pkcs8,
        raw,
        raw.hex().encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),  # as in a JWK "d"
        middle,
    ]
