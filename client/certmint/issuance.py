"""The steps shared by buy, renew, reissue, rekey and download.

Each step talks to the API through :class:`~certmint.api.ApiClient` and to the
disk through :mod:`certmint.files`; the CLI strings them together and prints.
Time is injected (``clock``, ``sleep``) so waiting can be tested without
waiting.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certmint.api import ApiClient, JsonObject
from certmint.errors import (
    ApiError,
    ClientError,
    IssuanceFailed,
    KeyMismatch,
    LocalFileError,
    NotDownloaded,
)
from certmint.files import (
    CERTIFICATE_FILE_MODE,
    FileBatch,
    Ownership,
    create_private_key_file,
    replace_keeping_ownership,
    sweep_temp_files,
)
from certmint.formats import CertificateBundle, CertificatePaths
from certmint.keys import (
    PrivateKey,
    build_csr,
    generate_private_key,
    load_private_key,
    private_key_pem,
    require_matching_key,
)

# Polling starts every 2 s and slows to every 15 s; the server's Retry-After
# wins when it sends one. The whole wait is bounded by the caller's timeout.
POLL_FIRST_SECONDS = 2.0
POLL_MAX_SECONDS = 15.0
POLL_GROWTH = 1.5

Progress = Callable[[float], None]
"""Called with the seconds waited so far before each sleep of the poll loop."""


def _string(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ApiError(
            "invalid_response", f"The server's answer lacks the field {key!r}.", 200
        )
    return value


def _names(obj: JsonObject) -> list[str]:
    value: Any = obj.get("names")
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise ApiError(
            "invalid_response", "The server's answer lacks the field 'names'.", 200
        )
    return list(value)


def certificate_name(certificate: JsonObject) -> str:
    """Return the server's (normalized) name of a certificate object."""
    return _string(certificate, "name")


def certificate_names(certificate: JsonObject) -> list[str]:
    """Return the normalized DNS names of a certificate object, in order."""
    return _names(certificate)


def create_key(path: Path, key_type: str) -> PrivateKey:
    """Generate a key of ``key_type`` and store it at ``path`` (0600, O_EXCL).

    Raises :class:`LocalFileError` ("... already exists") instead of replacing
    any existing file.
    """
    key = generate_private_key(key_type)
    create_private_key_file(path, private_key_pem(key))
    return key


def read_key(path: Path) -> PrivateKey:
    """Load the private key at ``path``; raises :class:`LocalFileError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise LocalFileError(f"there is no private key {path}") from error
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from error
    return load_private_key(data, str(path))


def submit_csr(
    api: ApiClient, name: str, key: PrivateKey, names: list[str]
) -> JsonObject:
    """Send a CSR for ``names`` signed by ``key``; return the new instance.

    One Idempotency-Key (a random UUID) covers this call and all its retries,
    so a lost answer never makes a second instance.
    """
    csr = build_csr(key, names).decode("ascii")
    return api.create_instance(name, csr, idempotency_key=str(uuid.uuid4()))


def wait_until_issued(
    api: ApiClient,
    name: str,
    instance: JsonObject,
    *,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Progress | None = None,
) -> JsonObject:
    """Poll ``instance`` until it is issued and return it.

    Raises :class:`NotDownloaded` when ``timeout`` seconds pass first (a
    timeout of 0 only looks once), and :class:`IssuanceFailed` if it ends
    ``failed`` or ``revoked``. Honours the server's Retry-After.
    """
    instance_id = _string(instance, "id")
    started = clock()
    delay = POLL_FIRST_SECONDS
    retry_after: float | None = None
    while True:
        state = instance.get("state")
        if state == "issued":
            return instance
        if state in ("failed", "revoked"):
            raise IssuanceFailed(
                f"the certificate request {instance_id} for {name} ended {state}"
            )

        waited = clock() - started
        remaining = timeout - waited
        if remaining <= 0:
            raise NotDownloaded(
                f"no certificate downloaded yet; run certmint download {name} later"
            )
        pause = min(retry_after if retry_after is not None else delay, remaining)
        if progress is not None:
            progress(waited)
        sleep(pause)
        delay = min(delay * POLL_GROWTH, POLL_MAX_SECONDS)
        instance, retry_after = api.get_instance(name, instance_id)


class DownloadResult(enum.Enum):
    """What a download did."""

    CHANGED = "changed"
    CURRENT = "current"


@dataclass(frozen=True)
class DownloadOptions:
    """Which optional formats to write (they are also kept up to date if present)."""

    combined: bool = False
    pkcs12: bool = False


def _matching_key(
    paths: CertificatePaths, bundle: CertificateBundle
) -> tuple[PrivateKey, Path]:
    # A staged rekey key is tried first: after a rekey the new certificate is
    # for it. If it does not match (a rekey whose request never went through),
    # the certificate may still be for the installed key.
    candidates = [p for p in (paths.new_key, paths.key) if p.exists()]
    if not candidates:
        raise LocalFileError(f"there is no private key {paths.key}")
    for path in candidates:
        key = read_key(path)
        try:
            require_matching_key(bundle.leaf, key, str(path))
        except KeyMismatch:
            continue
        return key, path
    raise KeyMismatch(
        "the certificate from the server does not match the local key "
        + " or ".join(p.name for p in candidates)
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from error


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False
    except OSError as error:
        raise LocalFileError(f"cannot read {path}: {error.strerror}") from error


def download(
    api: ApiClient,
    name: str,
    paths: CertificatePaths,
    options: DownloadOptions,
) -> DownloadResult:
    """Fetch the current certificate of ``name`` and install its files.

    Nothing is replaced unless the leaf's public key equals the local key's
    (``NAME.key.new`` if it matches, else ``NAME.key``); otherwise raises
    :class:`KeyMismatch`. All files are staged before any is renamed, then
    renamed in a fixed order; a matching ``NAME.key.new`` is promoted last,
    keeping the old key's mode and group. Returns CURRENT when every file
    already held these bytes and no key needed promoting.
    """
    for directory in {paths.key_directory, paths.cert_directory}:
        sweep_temp_files(directory, paths.file_names())

    current = api.current(name)
    bundle = CertificateBundle.from_pem(
        _string(current, "certificate"), _string(current, "chain")
    )
    key, key_path = _matching_key(paths, bundle)
    promote = key_path == paths.new_key

    # New key-bearing files copy the installed key's mode and group, which a
    # promoted NAME.key.new also inherits.
    key_ownership = (
        Ownership.of(paths.key) or Ownership.of(key_path) or Ownership(mode=0o600)
    )
    certificate_ownership = Ownership(mode=CERTIFICATE_FILE_MODE)
    key_pem = _read_bytes(key_path)
    wanted: list[tuple[Path, bytes, Ownership]] = [
        (paths.chain, bundle.chain_pem(), certificate_ownership),
        (paths.certificate, bundle.leaf_pem(), certificate_ownership),
        (paths.chained, bundle.chained_pem(), certificate_ownership),
    ]
    if options.combined or paths.combined.exists():
        wanted.append((paths.combined, bundle.combined_pem(key_pem), key_ownership))
    changed = [item for item in wanted if not _same_bytes(item[0], item[1])]
    write_pkcs12 = (options.pkcs12 or paths.pkcs12.exists()) and not (
        paths.pkcs12.exists() and bundle.pkcs12_matches(_read_bytes(paths.pkcs12), key)
    )
    if write_pkcs12:
        changed.append((paths.pkcs12, bundle.pkcs12(key, paths.stem), key_ownership))
    if not changed and not promote:
        return DownloadResult.CURRENT

    with FileBatch() as batch:
        for path, data, ownership in changed:
            batch.add(
                path, data, new_ownership=ownership, exact=ownership is key_ownership
            )
        batch.commit()
    if promote:
        # TODO: a rekey swaps two files (certificate, then key), and no rename
        # swaps two at once: a kill between the two renames leaves the new
        # certificate beside the old key until the next `certmint download`
        # (which promotes NAME.key.new). Close the window with a versioned
        # directory and a symlink switch, as certbot's live/ and archive/ do,
        # when the agent (which installs unattended) is built.
        replace_keeping_ownership(paths.new_key, paths.key)
    return DownloadResult.CHANGED


def stage_rekey_key(
    paths: CertificatePaths, key_type: str, *, force: bool
) -> PrivateKey:
    """Create ``NAME.key.new`` for a rekey and return its key.

    A ``NAME.key.new`` left by an earlier run is refused unless ``force``, in
    which case it is deleted first: it may belong to a rekey whose request is
    still pending, whose certificate ``certmint download`` would install.
    """
    if paths.new_key.exists():
        if not force:
            raise ClientError(
                f"{paths.new_key} already exists from an earlier rekey; if that "
                f"rekey is still pending run certmint download, otherwise rerun "
                f"with --force to discard it"
            )
        try:
            paths.new_key.unlink()
        except OSError as error:
            raise LocalFileError(
                f"cannot remove {paths.new_key}: {error.strerror}"
            ) from error
    return create_key(paths.new_key, key_type)
