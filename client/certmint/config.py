"""The client's settings: TOML files, then environment variables.

Precedence, lowest first:

1. built-in defaults;
2. ``/etc/certmint/config.toml`` (system-wide);
3. ``$XDG_CONFIG_HOME/certmint/config.toml`` (default ``~/.config/...``),
   or instead of 1-2 only the file named by ``--config`` / ``CERTMINT_CONFIG``;
4. ``CERTMINT_API_URL``, ``CERTMINT_CA_BUNDLE``, ``CERTMINT_API_KEY``.

``signup`` and ``link`` write ``api_key`` and ``api_url`` into the user file
(or the ``--config`` file), created 0600 in a 0700 directory, keeping every
other key in it, including keys this version does not know.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from certmint.errors import ConfigError
from certmint.files import Ownership, atomic_write
from certmint.keys import DEFAULT_KEY_TYPE, KEY_TYPES

SYSTEM_CONFIG_PATH = Path("/etc/certmint/config.toml")
DEFAULT_API_URL = "https://localhost:8444"

CONFIG_FILE_MODE = 0o600
CONFIG_DIRECTORY_MODE = 0o700

_STRING_KEYS = (
    "api_url",
    "api_key",
    "ca_bundle",
    "key_directory",
    "cert_directory",
    "key_type",
)
_ENVIRONMENT_OVERRIDES = {
    "CERTMINT_API_URL": "api_url",
    "CERTMINT_CA_BUNDLE": "ca_bundle",
    "CERTMINT_API_KEY": "api_key",
}


def _mask(secret: str | None) -> str:
    return "None" if secret is None else "'***'"


@dataclass(frozen=True)
class Config:
    """Effective settings after every source was applied.

    ``repr`` masks the API key, so a Config can be logged or shown in a
    traceback without leaking it.
    """

    api_url: str = DEFAULT_API_URL
    api_key: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    key_directory: Path = Path()
    cert_directory: Path = Path()
    key_type: str = DEFAULT_KEY_TYPE
    # The file signup/link write to.
    user_file: Path = Path()

    def __repr__(self) -> str:
        return (
            f"Config(api_url={self.api_url!r}, api_key={_mask(self.api_key)}, "
            f"ca_bundle={self.ca_bundle!r}, key_directory={self.key_directory!r}, "
            f"cert_directory={self.cert_directory!r}, key_type={self.key_type!r}, "
            f"user_file={self.user_file!r})"
        )


def user_config_path(environ: Mapping[str, str]) -> Path:
    """Return ``$XDG_CONFIG_HOME/certmint/config.toml`` or its ``~/.config`` default."""
    base = environ.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):
        # The XDG Base Directory spec says relative values must be ignored.
        home = environ.get("HOME") or str(Path.home())
        base = os.path.join(home, ".config")
    return Path(base) / "certmint" / "config.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    """Return the TOML table in ``path``, or ``{}`` if the file does not exist.

    Raises :class:`ConfigError` naming the file if it cannot be read or parsed.
    """
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error


def _validated(table: dict[str, Any], source: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for key in _STRING_KEYS:
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, str):
            raise ConfigError(f"{key} in {source} must be a string")
        settings[key] = value
    return settings


def _directory(key: str, merged: Mapping[str, str], sources: Mapping[str, str]) -> Path:
    """The directory setting ``key``: absolute, ``~`` expanded; the working
    directory when no source sets it. Raises ConfigError for a relative path."""
    if key not in merged:
        return Path.cwd()
    path = Path(merged[key]).expanduser()
    if not path.is_absolute():
        # A relative path in a file would silently depend on where cron runs.
        raise ConfigError(f"{key} in {sources[key]} must be an absolute path")
    return path


def load_config(
    *,
    explicit_path: Path | None,
    environ: Mapping[str, str],
    system_path: Path = SYSTEM_CONFIG_PATH,
) -> Config:
    """Read the config files and environment and return the effective settings.

    With ``explicit_path`` only that file is read (a missing file counts as
    empty, so ``signup --config NEW`` can create it). Raises
    :class:`ConfigError` for an unreadable file or an unusable value.
    """
    user_file = explicit_path or user_config_path(environ)
    files = [user_file] if explicit_path else [system_path, user_file]
    merged: dict[str, str] = {}
    sources: dict[str, str] = {}
    for path in files:
        for key, value in _validated(read_config_file(path), path).items():
            merged[key] = value
            sources[key] = str(path)
    for variable, key in _ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            merged[key] = environ[variable]
            sources[key] = variable

    api_url = merged.get("api_url", DEFAULT_API_URL).rstrip("/")
    if not api_url.startswith("https://"):
        # The API key travels in every request; it never goes over plain HTTP.
        raise ConfigError(
            f"api_url from {sources.get('api_url')} must start with https://"
        )
    key_type = merged.get("key_type", DEFAULT_KEY_TYPE)
    if key_type not in KEY_TYPES:
        raise ConfigError(
            f"key_type in {sources['key_type']} must be one of {', '.join(KEY_TYPES)}"
        )
    ca_bundle = merged.get("ca_bundle")

    return Config(
        api_url=api_url,
        api_key=merged.get("api_key") or None,
        ca_bundle=Path(ca_bundle).expanduser() if ca_bundle else None,
        key_directory=_directory("key_directory", merged, sources),
        cert_directory=_directory("cert_directory", merged, sources),
        key_type=key_type,
        user_file=user_file,
    )


def save_settings(path: Path, updates: Mapping[str, str]) -> None:
    """Set ``updates`` in the config file at ``path``, keeping its other keys.

    The file is replaced atomically and always ends up 0600 (it holds the API
    key); a missing parent directory is created 0700. Raises
    :class:`ConfigError` if the existing file cannot be parsed, so a typo in it
    is never silently thrown away.
    """
    table = read_config_file(path)
    table.update(updates)
    data = tomli_w.dumps(table).encode("utf-8")

    directory = path.parent
    if not directory.exists():
        try:
            _make_private_directories(directory)
        except OSError as error:
            raise ConfigError(f"cannot create {directory}: {error.strerror}") from error
    atomic_write(
        path,
        data,
        new_ownership=Ownership(mode=CONFIG_FILE_MODE),
        keep_existing_mode=False,
    )


def _make_private_directories(directory: Path) -> None:
    """Create ``directory`` and each missing parent 0700, whatever the umask.

    ``mkdir(parents=True)`` would create the parents (e.g. ``~/.config``)
    with ``0777 & ~umask``: world-writable under ``umask 000``, which would let
    another user swap our config directory for theirs.
    """
    missing = []
    for candidate in [directory, *directory.parents]:
        if candidate.exists():
            break
        missing.append(candidate)
    for path in reversed(missing):
        path.mkdir(mode=CONFIG_DIRECTORY_MODE)
        # mkdir's mode is filtered by the umask; make it exact.
        path.chmod(CONFIG_DIRECTORY_MODE)
