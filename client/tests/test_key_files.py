"""Private key files: 0600 from birth, never overwritten (cases/files.md 1)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from certmint.errors import ClientError, LocalFileError
from certmint.files import create_private_key_file
from certmint.formats import CertificatePaths
from certmint.issuance import create_key, stage_rekey_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.usefixtures("umask_000")
def test_new_key_file_is_0600_even_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "www.example.test.key"

    create_key(path, "ecdsa-p256")

    assert _mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _leftovers(tmp_path) == []


@pytest.mark.usefixtures("umask_000")
def test_key_file_is_never_readable_by_others_while_being_written(
    tmp_path: Path,
) -> None:
    modes: list[int] = []

    def spying_write(fd: int, data: bytes) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return os.write(fd, data)

    create_private_key_file(tmp_path / "a.key", b"secret\n", write=spying_write)

    assert modes and all(mode & 0o077 == 0 for mode in modes)


def test_existing_key_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "www.example.test.key"
    path.write_bytes(b"the old key\n")

    with pytest.raises(LocalFileError, match=r"www\.example\.test\.key already exists"):
        create_key(path, "ecdsa-p256")

    assert path.read_bytes() == b"the old key\n"
    assert _leftovers(tmp_path) == []


def test_failed_key_write_leaves_neither_key_nor_temp(tmp_path: Path) -> None:
    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "a.key"
    with pytest.raises(LocalFileError, match="No space left on device"):
        create_private_key_file(path, b"secret\n", write=full_disk)

    assert list(tmp_path.iterdir()) == []


def test_rekey_refuses_a_stale_new_key_without_force(tmp_path: Path) -> None:
    paths = CertificatePaths.for_name("www.example.test", tmp_path, tmp_path)
    paths.new_key.write_bytes(b"left by a failed rekey\n")

    with pytest.raises(ClientError, match=r"already exists from an earlier rekey"):
        stage_rekey_key(paths, "ecdsa-p256", force=False)

    assert paths.new_key.read_bytes() == b"left by a failed rekey\n"


@pytest.mark.usefixtures("umask_000")
def test_rekey_with_force_replaces_a_stale_new_key_with_a_0600_one(
    tmp_path: Path,
) -> None:
    paths = CertificatePaths.for_name("www.example.test", tmp_path, tmp_path)
    paths.new_key.write_bytes(b"left by a failed rekey\n")

    stage_rekey_key(paths, "ecdsa-p384", force=True)

    assert _mode(paths.new_key) == 0o600
    assert b"PRIVATE KEY" in paths.new_key.read_bytes()
