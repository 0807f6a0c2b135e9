"""Server config snippets point at our files and use the intermediate profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmint.formats import CertificatePaths
from certmint.mkconfig import TEMPLATES, render


@pytest.fixture
def paths(tmp_path: Path) -> CertificatePaths:
    return CertificatePaths.for_name(
        "*.example.test", tmp_path / "keys", tmp_path / "certs"
    )


@pytest.mark.parametrize("template", ["nginx", "apache"])
def test_web_server_config_uses_the_chained_certificate_and_the_key(
    template: str, paths: CertificatePaths
) -> None:
    text = render(template, "*.example.test", paths, ["*.example.test", "example.test"])

    assert str(paths.chained) in text
    assert str(paths.key) in text
    assert "_wildcard.example.test" in text


def test_haproxy_config_uses_the_combined_file_and_says_how_to_make_it(
    paths: CertificatePaths,
) -> None:
    text = render("haproxy", "*.example.test", paths, ["*.example.test"])

    assert f"crt {paths.combined}" in text
    assert "certmint download --combined *.example.test" in text


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_has_tls12_and_13_hsts_and_no_stapling(
    template: str, paths: CertificatePaths
) -> None:
    text = render(template, "*.example.test", paths, ["*.example.test"])

    assert "TLSv1.2" in text
    assert "TLSv1.3" in text or "ssl-min-ver TLSv1.2" in text
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in text
    assert 'Strict-Transport-Security "max-age=63072000"' in text
    assert "stapling on" not in text.lower()
    assert "SSLv3" not in text and "TLSv1.1" not in text


def test_paths_in_the_config_are_absolute(paths: CertificatePaths) -> None:
    relative = CertificatePaths("site", Path("keys"), Path("certs"))

    text = render("nginx", "site.example.test", relative, ["site.example.test"])

    assert f"ssl_certificate_key {Path.cwd() / 'keys' / 'site.key'};" in text


def test_apache_server_name_is_never_a_wildcard(paths: CertificatePaths) -> None:
    text = render("apache", "*.example.test", paths, ["*.example.test"])

    assert "ServerName example.test\n" in text
    assert "ServerAlias *.example.test\n" in text


def test_unknown_template_is_refused(paths: CertificatePaths) -> None:
    with pytest.raises(ValueError, match="Unknown template 'iis'"):
        render("iis", "x.example.test", paths, ["x.example.test"])
