"""Config files and environment: precedence, validation, 0600 writes."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from certmint.config import load_config, save_settings, user_config_path
from certmint.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def system_file(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "etc" / "config.toml",
        'api_url = "https://system.example.test"\n'
        'api_key = "cmk_system"\n'
        'key_directory = "/srv/system/keys"\n'
        'key_type = "rsa2048"\n',
    )


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    home = tmp_path / "xdg"
    _write(
        home / "certmint" / "config.toml",
        'api_url = "https://user.example.test"\ncert_directory = "/srv/user/certs"\n',
    )
    return home


def test_user_file_overrides_system_file_key_by_key(
    system_file: Path, xdg: Path
) -> None:
    config = load_config(
        explicit_path=None,
        environ={"XDG_CONFIG_HOME": str(xdg)},
        system_path=system_file,
    )

    assert config.api_url == "https://user.example.test"
    assert config.api_key == "cmk_system"
    assert config.key_directory == Path("/srv/system/keys")
    assert config.cert_directory == Path("/srv/user/certs")
    assert config.key_type == "rsa2048"
    assert config.user_file == xdg / "certmint" / "config.toml"


def test_environment_overrides_every_file(system_file: Path, xdg: Path) -> None:
    environ = {
        "XDG_CONFIG_HOME": str(xdg),
        "CERTMINT_API_URL": "https://env.example.test/",
        "CERTMINT_API_KEY": "cmk_env",
        "CERTMINT_CA_BUNDLE": "/srv/ca.pem",
    }

    config = load_config(explicit_path=None, environ=environ, system_path=system_file)

    assert config.api_url == "https://env.example.test"
    assert config.api_key == "cmk_env"
    assert config.ca_bundle == Path("/srv/ca.pem")


def test_explicit_file_replaces_both_default_files(
    tmp_path: Path, system_file: Path, xdg: Path
) -> None:
    explicit = _write(tmp_path / "only.toml", 'key_type = "ecdsa-p384"\n')

    config = load_config(
        explicit_path=explicit,
        environ={"XDG_CONFIG_HOME": str(xdg)},
        system_path=system_file,
    )

    assert config.api_url == "https://localhost:8444"
    assert config.api_key is None
    assert config.key_type == "ecdsa-p384"
    assert config.user_file == explicit


def test_defaults_apply_when_no_file_exists(tmp_path: Path) -> None:
    config = load_config(
        explicit_path=None,
        environ={"XDG_CONFIG_HOME": str(tmp_path)},
        system_path=tmp_path / "missing.toml",
    )

    assert config.api_url == "https://localhost:8444"
    assert config.key_type == "ecdsa-p256"
    assert config.key_directory == Path.cwd()
    assert config.cert_directory == Path.cwd()


def test_relative_xdg_config_home_is_ignored() -> None:
    path = user_config_path({"XDG_CONFIG_HOME": "relative", "HOME": "/home/u"})

    assert path == Path("/home/u/.config/certmint/config.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_url = "http://plain.example.test"\n', "must start with https://"),
        ('key_directory = "keys"\n', "key_directory in .* must be an absolute path"),
        ('key_type = "dsa"\n', "key_type in .* must be one of ecdsa-p256"),
        ("api_key = 42\n", "api_key in .* must be a string"),
        ("api_key = \n", "is not valid TOML"),
    ],
)
def test_unusable_settings_are_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path / "config.toml", text)

    with pytest.raises(ConfigError, match=message):
        load_config(explicit_path=path, environ={})


def test_repr_never_shows_the_api_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.toml", 'api_key = "cmk_topsecret"\n')

    config = load_config(explicit_path=path, environ={})

    assert "cmk_topsecret" not in repr(config)
    assert "***" in repr(config)


@pytest.mark.usefixtures("umask_000")
def test_saving_creates_a_0600_file_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "certmint" / "config.toml"

    save_settings(path, {"api_key": "cmk_new", "api_url": "https://a.example.test"})

    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert tomllib.loads(path.read_text()) == {
        "api_key": "cmk_new",
        "api_url": "https://a.example.test",
    }


def test_saving_keeps_unknown_keys_and_tightens_the_mode(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        'api_key = "cmk_old"\nfuture_option = true\n[profiles.staging]\nx = 1\n',
    )
    path.chmod(0o644)

    save_settings(path, {"api_key": "cmk_new"})

    assert tomllib.loads(path.read_text()) == {
        "api_key": "cmk_new",
        "future_option": True,
        "profiles": {"staging": {"x": 1}},
    }
    assert _mode(path) == 0o600


def test_saving_refuses_to_overwrite_a_file_it_cannot_parse(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", "this is = = not toml\n")

    with pytest.raises(ConfigError, match="is not valid TOML"):
        save_settings(path, {"api_key": "cmk_new"})

    assert path.read_text() == "this is = = not toml\n"


@pytest.mark.usefixtures("umask_000")
def test_missing_parent_directories_are_created_private_too(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".config" / "certmint" / "config.toml"

    save_settings(path, {"api_url": "https://localhost:8444"})

    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
