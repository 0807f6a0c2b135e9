"""Replacing certificate files: atomic, mode and group kept (cases/files.md 2, 3)."""

from __future__ import annotations

import errno
import grp
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from certmint.errors import LocalFileError
from certmint.files import (
    FileBatch,
    Ownership,
    atomic_write,
    replace_keeping_ownership,
    sweep_temp_files,
)

CERT_MODE = Ownership(mode=0o644)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _other_group() -> int:
    """A group other than our primary one that we may chown to, else our own."""
    if os.geteuid() == 0:
        for name in ("nogroup", "ssl-cert", "daemon"):
            try:
                return grp.getgrnam(name).gr_gid
            except KeyError:
                continue
    others = [g for g in os.getgroups() if g != os.getegid()]
    return others[0] if others else os.getegid()


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "www.example.test.crt"
    path.write_bytes(b"old certificate\n")
    calls = 0

    def fails_midway(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data[:5])

    with pytest.raises(LocalFileError, match="No space left on device"):
        atomic_write(
            path, b"new certificate\n", new_ownership=CERT_MODE, write=fails_midway
        )

    assert path.read_bytes() == b"old certificate\n"
    assert _temps(tmp_path) == []


def test_file_size_limit_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "www.example.test.chained.crt"
    path.write_bytes(b"old chain\n" * 10)
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from certmint.errors import LocalFileError
        from certmint.files import Ownership, atomic_write

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_write(Path(sys.argv[1]), b"x" * 65536,
                         new_ownership=Ownership(mode=0o644))
        except LocalFileError as error:
            print("refused:", error)
            sys.exit(3)
        sys.exit(0)
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 3, result.stdout + result.stderr
    assert "refused" in result.stdout
    assert path.read_bytes() == b"old chain\n" * 10
    assert _temps(tmp_path) == []


@pytest.mark.usefixtures("umask_000")
def test_new_certificate_file_gets_0644_even_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "a.crt"

    atomic_write(path, b"cert\n", new_ownership=CERT_MODE)

    assert _mode(path) == 0o644


def test_replacing_a_file_keeps_its_mode_and_group(tmp_path: Path) -> None:
    gid = _other_group()
    path = tmp_path / "www.example.test.combined.pem"
    path.write_bytes(b"old\n")
    os.chown(path, -1, gid)
    os.chmod(path, 0o640)

    atomic_write(path, b"new\n", new_ownership=CERT_MODE)

    assert path.read_bytes() == b"new\n"
    assert _mode(path) == 0o640
    assert path.stat().st_gid == gid


def test_promoting_a_new_key_keeps_the_old_keys_mode_and_group(tmp_path: Path) -> None:
    gid = _other_group()
    key = tmp_path / "a.key"
    key.write_bytes(b"old key\n")
    os.chown(key, -1, gid)
    os.chmod(key, 0o640)
    new_key = tmp_path / "a.key.new"
    fd = os.open(new_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"new key\n")
    os.close(fd)

    replace_keeping_ownership(new_key, key)

    assert key.read_bytes() == b"new key\n"
    assert _mode(key) == 0o640
    assert key.stat().st_gid == gid
    assert not new_key.exists()


def test_batch_renames_nothing_when_a_later_file_fails(tmp_path: Path) -> None:
    first = tmp_path / "a.crt"
    second = tmp_path / "a.chained.crt"
    first.write_bytes(b"old leaf\n")
    second.write_bytes(b"old chained\n")
    calls = 0

    def fails_second_file(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(errno.EFBIG, "File too large")
        return os.write(fd, data)

    with (
        pytest.raises(LocalFileError, match="File too large"),
        FileBatch(write=fails_second_file) as batch,
    ):
        batch.add(first, b"new leaf\n", new_ownership=CERT_MODE)
        batch.add(second, b"new chained\n", new_ownership=CERT_MODE)
        batch.commit()

    assert first.read_bytes() == b"old leaf\n"
    assert second.read_bytes() == b"old chained\n"
    assert _temps(tmp_path) == []


def test_sweep_removes_only_the_temps_of_that_certificate(tmp_path: Path) -> None:
    ours = tmp_path / ".example.com.crt.0123456789abcdef.tmp"
    theirs = tmp_path / ".example.com.au.crt.0123456789abcdef.tmp"
    unrelated = tmp_path / ".example.com.crt.notours.tmp"
    for path in (ours, theirs, unrelated):
        path.write_bytes(b"")

    removed = sweep_temp_files(tmp_path, ["example.com.crt", "example.com.key"])

    assert removed == [ours]
    assert theirs.exists() and unrelated.exists()
