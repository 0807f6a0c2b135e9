"""Write the CSR test vectors in tests/testdata/csr/ (run by hand, not by pytest).

Usage: ``.venv/bin/python tests/testdata/make_vectors.py``. Each vector is a
PEM CSR; the private keys live only in memory here and are thrown away, so no
key material is ever committed. ``openssl-p256.pem`` comes from the openssl
CLI, so at least one vector was not made by the library we test with.
Re-running replaces every vector with fresh keys; the tests only depend on
each file's key type and names, never on its bytes.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent / "csr"
NAMES = ["www.example.test", "example.test"]

KeyMaker = Callable[[], CertificateIssuerPrivateKeyTypes]


def csr_pem(
    key: CertificateIssuerPrivateKeyTypes,
    *,
    common_name: str | None = "www.example.test",
    general_names: list[x509.GeneralName] | None = None,
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder()
    attributes = []
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = builder.subject_name(x509.Name(attributes))
    if general_names is None:
        general_names = [x509.DNSName(name) for name in NAMES]
    if general_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(general_names), critical=False
        )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def main() -> None:
    HERE.mkdir(exist_ok=True)
    keys: dict[str, KeyMaker] = {
        "ecdsa-p256": p256,
        "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
        "rsa3072": lambda: rsa.generate_private_key(65537, 3072),
        "rsa4096": lambda: rsa.generate_private_key(65537, 4096),
        "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
        "rsa8192": lambda: rsa.generate_private_key(65537, 8192),
        "rsa2048-exponent3": lambda: rsa.generate_private_key(3, 2048),
        "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }
    for name, make in keys.items():
        (HERE / f"{name}.pem").write_bytes(csr_pem(make()))

    (HERE / "mixed-case-names.pem").write_bytes(
        csr_pem(
            p256(),
            common_name="Example.TEST.",
            general_names=[
                x509.DNSName("WWW.Example.test"),
                x509.DNSName("www.example.test."),
                x509.DNSName("xn--bcher-kva.example.test"),
            ],
        )
    )
    (HERE / "common-name-only.pem").write_bytes(
        csr_pem(p256(), common_name="www.example.test", general_names=[])
    )
    (HERE / "label-common-name.pem").write_bytes(
        csr_pem(p256(), common_name="My Web Server")
    )
    (HERE / "no-names.pem").write_bytes(
        csr_pem(p256(), common_name=None, general_names=[])
    )
    (HERE / "ip-address-san.pem").write_bytes(
        csr_pem(
            p256(),
            general_names=[
                x509.DNSName("www.example.test"),
                x509.IPAddress(ipaddress.ip_address("192.0.2.10")),
            ],
        )
    )
    (HERE / "wildcard-not-left-most.pem").write_bytes(
        csr_pem(p256(), general_names=[x509.DNSName("www.*.example.test")])
    )
    write_openssl_vector()


def write_openssl_vector() -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl not found; openssl-p256.pem left as it was")
        return
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                openssl,
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                str(Path(scratch) / "throwaway.key"),
                "-subj",
                "/CN=www.example.test",
                "-addext",
                "subjectAltName=DNS:www.example.test,DNS:example.test",
                "-out",
                str(HERE / "openssl-p256.pem"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


if __name__ == "__main__":
    main()
