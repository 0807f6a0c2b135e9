"""Server configuration snippets for a certificate's files (``certmint mkconfig``).

The TLS settings follow Mozilla's "intermediate" profile (server side TLS
guidelines 5.7): TLS 1.2 and 1.3, ECDHE with AEAD ciphers only, the client's
cipher preference, no session tickets, HSTS for two years. The profile's three
DHE suites are left out because each needs a dhparam file the operator would
have to make; every client the profile targets also speaks ECDHE.
OCSP stapling stays off: Let's Encrypt shut down its OCSP responders in 2025
and publishes CRLs only, so there would be nothing to staple.
"""

from __future__ import annotations

from pathlib import Path

from certmint import __version__
from certmint.formats import CertificatePaths

TEMPLATES = ("nginx", "apache", "haproxy")

# TLS 1.2 suites of the intermediate profile, in its order, minus DHE (above).
# TLS 1.3 suites need no list: OpenSSL enables only AEAD ones.
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
TLS13_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" + (
    "TLS_CHACHA20_POLY1305_SHA256"
)
CURVES = "X25519:prime256v1:secp384r1"
# Two years, the intermediate profile's value and the HSTS preload minimum.
HSTS_VALUE = "max-age=63072000"


def _header(template: str, name: str) -> str:
    return (
        f"# {template} configuration for the certificate {name}, "
        f"printed by certmint {__version__}.\n"
        '# TLS settings: Mozilla "intermediate" profile (TLS 1.2 and 1.3).\n'
        "# No OCSP stapling: the issuer publishes CRLs only.\n"
    )


def _nginx(name: str, paths: CertificatePaths, names: list[str]) -> str:
    server_names = " ".join(names)
    return _header("nginx", name) + (
        "server {\n"
        "    listen 443 ssl;\n"
        "    listen [::]:443 ssl;\n"
        f"    server_name {server_names};\n"
        "\n"
        f"    ssl_certificate     {paths.chained};\n"
        f"    ssl_certificate_key {paths.key};\n"
        "\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        f"    ssl_ciphers {TLS12_CIPHERS};\n"
        "    ssl_prefer_server_ciphers off;\n"
        f"    ssl_ecdh_curve {CURVES};\n"
        "    ssl_session_timeout 1d;\n"
        "    ssl_session_cache shared:certmint:10m;\n"
        "    ssl_session_tickets off;\n"
        "\n"
        f'    add_header Strict-Transport-Security "{HSTS_VALUE}" always;\n'
        "}\n"
        "\n"
        "server {\n"
        "    listen 80;\n"
        "    listen [::]:80;\n"
        f"    server_name {server_names};\n"
        "    return 301 https://$host$request_uri;\n"
        "}\n"
    )


def _apache(name: str, paths: CertificatePaths, names: list[str]) -> str:
    # ServerName may not be a wildcard; use the first plain name if any.
    plain = [n for n in names if not n.startswith("*.")]
    server_name = plain[0] if plain else names[0].removeprefix("*.")
    aliases = [n for n in names if n != server_name]
    alias_line = f"    ServerAlias {' '.join(aliases)}\n" if aliases else ""
    return _header("Apache httpd (2.4.8 or later)", name) + (
        "# Needs mod_ssl and mod_headers.\n"
        "<VirtualHost *:443>\n"
        f"    ServerName {server_name}\n"
        f"{alias_line}"
        "    SSLEngine on\n"
        "    # Since 2.4.8 this file may hold the intermediates after the leaf.\n"
        f"    SSLCertificateFile    {paths.chained}\n"
        f"    SSLCertificateKeyFile {paths.key}\n"
        f'    Header always set Strict-Transport-Security "{HSTS_VALUE}"\n'
        "</VirtualHost>\n"
        "\n"
        "SSLProtocol          -all +TLSv1.2 +TLSv1.3\n"
        f"SSLOpenSSLConfCmd    Curves {CURVES}\n"
        f"SSLCipherSuite       {TLS12_CIPHERS}\n"
        "SSLHonorCipherOrder  off\n"
        "SSLSessionTickets    off\n"
        "SSLUseStapling       off\n"
    )


def _haproxy(name: str, paths: CertificatePaths, names: list[str]) -> str:
    missing = (
        ""
        if paths.combined.exists()
        else (
            f"# {paths.combined} does not exist yet; write it with\n"
            f"#   certmint download --combined {name}\n"
        )
    )
    return (
        _header("HAProxy (2.2 or later)", name)
        + missing
        + (
            "global\n"
            f"    ssl-default-bind-ciphers {TLS12_CIPHERS}\n"
            f"    ssl-default-bind-ciphersuites {TLS13_CIPHERSUITES}\n"
            "    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 "
            "no-tls-tickets\n"
            "\n"
            "frontend https\n"
            "    mode http\n"
            f"    # Serves {' '.join(names)}; the file holds key, leaf and chain.\n"
            f"    bind :443 ssl crt {paths.combined}\n"
            "    bind :80\n"
            "    http-request redirect scheme https unless { ssl_fc }\n"
            f'    http-response set-header Strict-Transport-Security "{HSTS_VALUE}"\n'
            "    default_backend application\n"
            "\n"
            "backend application\n"
            "    mode http\n"
            "    # Point this at your application.\n"
            "    server application 127.0.0.1:8080\n"
        )
    )


def render(template: str, name: str, paths: CertificatePaths, names: list[str]) -> str:
    """Return the config text of ``template`` for certificate ``name``.

    ``paths`` should be absolute (the server does not run in our directory);
    ``names`` are the DNS names to serve. Raises ValueError for an unknown
    template.
    """
    absolute = CertificatePaths(
        paths.stem,
        Path(paths.key_directory).absolute(),
        Path(paths.cert_directory).absolute(),
    )
    if template == "nginx":
        return _nginx(name, absolute, names)
    if template == "apache":
        return _apache(name, absolute, names)
    if template == "haproxy":
        return _haproxy(name, absolute, names)
    raise ValueError(f"Unknown template {template!r}; use one of {TEMPLATES}.")
