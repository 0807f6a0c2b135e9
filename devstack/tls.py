"""TLS for the local servers: a server certificate from the private CA.

The CA itself lives in :mod:`chalicelib.private_ca`; this module only asks it
for a server certificate and builds the server-side ``ssl.SSLContext``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from chalicelib import private_ca

# Names the server certificate covers: the URLs devstack prints use
# ``localhost``; ``127.0.0.1`` lets a client that skips name resolution verify
# too. Both are loopback only.
SERVER_HOSTNAMES = ("localhost",)
SERVER_IP_ADDRESSES = ("127.0.0.1",)

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
    chain, key = private_ca.issue_server_certificate(
        authority,
        home / "tls",
        hostnames=SERVER_HOSTNAMES,
        ip_addresses=SERVER_IP_ADDRESSES,
    )
    return ca_directory / private_ca.ROOT_CERTIFICATE_FILE, chain, key


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
