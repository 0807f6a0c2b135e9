"""Crash-safe creation and replacement of key, certificate and config files.

Two rules hold for every file this module touches:

* A private key is created with mode 0600 in the very ``open`` call that makes
  it (``O_CREAT | O_EXCL``), so no umask and no race can expose it, and an
  existing key is never overwritten.
* Every other write goes to a temp file in the same directory
  (``.NAME.<random>.tmp``), is fsynced, given the mode and group of the file it
  replaces, and renamed over it; the directory is fsynced afterwards. Any
  failure unlinks the temp and leaves the previous file as it was, so a crash,
  a full disk or a ``ulimit -f`` never leaves an empty or half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from certmint.errors import LocalFileError

Writer = Callable[[int, bytes], int]
"""A function with the signature of :func:`os.write`, injectable for tests."""

# 8 random bytes make a collision between two concurrent runs negligible, and
# the fixed length lets the sweep recognise exactly our own temp files.
_TEMP_TOKEN_BYTES = 8
_TEMP_PATTERN = r"\.{name}\.[0-9a-f]{{16}}\.tmp"

# What ``buy`` creates for a new certificate file; the key-bearing files
# instead copy the key file's mode (see formats.py).
CERTIFICATE_FILE_MODE = 0o644
PRIVATE_KEY_MODE = 0o600


@dataclass(frozen=True)
class Ownership:
    """The mode bits and group (and, as root, owner) a file must end up with.

    A ``gid`` or ``uid`` of -1 means "whatever the new file got", as in chown.
    """

    mode: int
    gid: int = -1
    uid: int = -1

    @classmethod
    def of(cls, path: Path) -> Ownership | None:
        """Return the ownership of ``path`` (following symlinks), or None if absent."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        # Only root may give a file away; others keep uid -1 ("unchanged").
        uid = info.st_uid if os.geteuid() == 0 else -1
        return cls(mode=stat.S_IMODE(info.st_mode), gid=info.st_gid, uid=uid)


def temp_path_for(final: Path) -> Path:
    """Return a fresh temp path next to ``final``, named ``.NAME.<hex>.tmp``."""
    token = secrets.token_hex(_TEMP_TOKEN_BYTES)
    return final.with_name(f".{final.name}.{token}.tmp")


def fsync_directory(directory: Path) -> None:
    """Flush ``directory`` so that a rename or link in it survives a power loss."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise LocalFileError(f"cannot flush {directory}: {error.strerror}") from error


def _create_temp(final: Path) -> tuple[Path, int]:
    # Every write in this module starts here: a fresh temp next to ``final``,
    # created 0600 in the same call, so its content is never readable by
    # others before it gets its final mode. Returns the path and an open fd.
    temp = temp_path_for(final)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    except OSError as error:
        raise LocalFileError(f"cannot create {temp}: {error.strerror}") from error
    return temp, fd


def _write_all(fd: int, data: bytes, write: Writer) -> None:
    view = memoryview(data)
    while view:
        written = write(fd, bytes(view))
        if written <= 0:
            raise OSError("write returned no progress")
        view = view[written:]


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def create_private_key_file(
    path: Path, data: bytes, *, write: Writer = os.write
) -> None:
    """Create ``path`` holding ``data`` with mode 0600, refusing if it exists.

    The temp file is opened with ``O_CREAT | O_EXCL`` and mode 0600, fsynced,
    then hard-linked to ``path``; ``link`` fails when ``path`` exists, so an
    existing key is never replaced, even by a concurrent run. Raises
    :class:`LocalFileError` with "NAME already exists" in that case, and on any
    other failure; no temp file is left behind either way.
    """
    temp, fd = _create_temp(path)
    try:
        try:
            # The umask can only have removed bits from 0600; make it exact so
            # the owner can always read the key back.
            os.fchmod(fd, PRIVATE_KEY_MODE)
            _write_all(fd, data, write)
            os.fsync(fd)
        finally:
            os.close(fd)
        # TODO: some network and FAT file systems lack hard links; fall back to
        # O_EXCL on the final name there if users report it.
        os.link(temp, path)
    except FileExistsError as error:
        raise LocalFileError(f"{path} already exists") from error
    except OSError as error:
        raise LocalFileError(f"cannot write {path}: {error.strerror}") from error
    finally:
        _unlink_quietly(temp)
    fsync_directory(path.parent)


@dataclass
class StagedFile:
    """A fully written, fsynced temp file waiting to be renamed over ``final``."""

    final: Path
    temp: Path


def stage_file(
    final: Path,
    data: bytes,
    *,
    new_ownership: Ownership,
    keep_existing_mode: bool = True,
    exact: bool = False,
    write: Writer = os.write,
) -> StagedFile:
    """Write ``data`` to a temp file next to ``final`` and return it, not renamed.

    If ``final`` exists, the temp gets its group (and owner, as root) and, when
    ``keep_existing_mode``, its mode; otherwise it gets ``new_ownership``.
    With ``exact``, it gets ``new_ownership`` whatever it had: files that hold
    the key follow the key's mode and group, never their own older, looser
    ones. The
    temp starts at 0600 and only reaches its final mode after the data is
    written, so key-bearing content is never readable by others in between.
    Raises :class:`LocalFileError` on failure, having removed the temp.
    """
    existing = Ownership.of(final)
    if existing is None or exact:
        target = new_ownership
    elif keep_existing_mode:
        target = existing
    else:
        target = Ownership(new_ownership.mode, existing.gid, existing.uid)

    temp, fd = _create_temp(final)
    try:
        _write_all(fd, data, write)
        os.fsync(fd)
        _apply_ownership(fd, target, final)
    except OSError as error:
        os.close(fd)
        _unlink_quietly(temp)
        raise LocalFileError(f"cannot write {final}: {error.strerror}") from error
    except BaseException:
        os.close(fd)
        _unlink_quietly(temp)
        raise
    os.close(fd)
    return StagedFile(final=final, temp=temp)


def _apply_ownership(fd: int, target: Ownership, final: Path) -> None:
    current = os.fstat(fd)
    if target.gid not in (-1, current.st_gid) or target.uid not in (
        -1,
        current.st_uid,
    ):
        try:
            os.fchown(fd, target.uid, target.gid)
        except PermissionError as error:
            # Writing the file with our own group instead could hand a key to
            # a group the operator never chose; refuse and keep the old file.
            raise LocalFileError(
                f"cannot give the new {final} the group {target.gid} of the file "
                f"it replaces: {error.strerror}"
            ) from error
    # chown may clear set-id bits, so the mode goes last.
    os.fchmod(fd, target.mode)


def commit_files(staged: Sequence[StagedFile]) -> None:
    """Rename every staged temp over its final path, in order, then fsync dirs.

    Raises :class:`LocalFileError` if a rename fails; temps not yet renamed are
    removed, and files already renamed keep their new content.
    """
    directories: list[Path] = []
    for index, item in enumerate(staged):
        try:
            os.replace(item.temp, item.final)
        except OSError as error:
            discard_files(staged[index:])
            raise LocalFileError(
                f"cannot replace {item.final}: {error.strerror}"
            ) from error
        if item.final.parent not in directories:
            directories.append(item.final.parent)
    for directory in directories:
        fsync_directory(directory)


def discard_files(staged: Iterable[StagedFile]) -> None:
    """Remove the temps of ``staged``; idempotent."""
    for item in staged:
        _unlink_quietly(item.temp)


class FileBatch:
    """Stage several files, then rename them all, or none if staging fails.

    Use as a context manager: temps that were staged but not committed when
    the block exits (by an exception or without :meth:`commit`) are removed.
    """

    def __init__(self, *, write: Writer = os.write) -> None:
        self._write = write
        self._staged: list[StagedFile] = []

    def add(
        self,
        final: Path,
        data: bytes,
        *,
        new_ownership: Ownership,
        keep_existing_mode: bool = True,
        exact: bool = False,
    ) -> None:
        """Stage ``data`` for ``final``; see :func:`stage_file`."""
        self._staged.append(
            stage_file(
                final,
                data,
                new_ownership=new_ownership,
                keep_existing_mode=keep_existing_mode,
                exact=exact,
                write=self._write,
            )
        )

    def commit(self) -> None:
        """Rename all staged files into place in the order they were added."""
        staged, self._staged = self._staged, []
        commit_files(staged)

    def __enter__(self) -> FileBatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        discard_files(self._staged)
        self._staged = []


def atomic_write(
    final: Path,
    data: bytes,
    *,
    new_ownership: Ownership,
    keep_existing_mode: bool = True,
    write: Writer = os.write,
) -> None:
    """Replace ``final`` with ``data`` atomically; the old file survives failure."""
    staged = stage_file(
        final,
        data,
        new_ownership=new_ownership,
        keep_existing_mode=keep_existing_mode,
        write=write,
    )
    commit_files([staged])


def replace_keeping_ownership(source: Path, final: Path) -> None:
    """Rename ``source`` over ``final``, first giving it ``final``'s mode and group.

    Used to promote ``NAME.key.new`` to ``NAME.key`` after a rekey: an operator
    who set the key to 0640 and group ``ssl-cert`` keeps that setting. The
    group changes before the mode so the key is never readable by a group it
    was not meant for. Raises :class:`LocalFileError` on failure, leaving both
    files in place.
    """
    existing = Ownership.of(final)
    try:
        if existing is not None:
            info = source.stat()
            if existing.gid != info.st_gid or existing.uid not in (
                -1,
                info.st_uid,
            ):
                os.chown(source, existing.uid, existing.gid)
            os.chmod(source, existing.mode)
        os.replace(source, final)
    except OSError as error:
        raise LocalFileError(
            f"cannot move {source} to {final}: {error.strerror}"
        ) from error
    fsync_directory(final.parent)


def sweep_temp_files(directory: Path, file_names: Iterable[str]) -> list[Path]:
    """Remove stale temps left by an interrupted write of any of ``file_names``.

    Only names of exactly our temp shape (``.NAME.<16 hex>.tmp`` for a NAME in
    ``file_names``) are removed, so ``example.com`` never sweeps the temps of
    ``example.com.au``. Returns the removed paths.
    """
    patterns = [
        re.compile(_TEMP_PATTERN.format(name=re.escape(name))) for name in file_names
    ]
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if any(pattern.fullmatch(entry.name) for pattern in patterns):
            _unlink_quietly(entry)
            removed.append(entry)
    return removed
