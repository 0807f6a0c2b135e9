"""dynalite, a DynamoDB look-alike on Node and LevelDB, as a child process.

The child runs in its own process group (so a Ctrl-C in the terminal reaches
only devstack, which then stops it in order) and, on Linux, is told by the
kernel to exit if devstack dies without cleaning up. It is stopped by its
process group id, never by name.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# dynalite starts in well under a second; a cold disk or a loaded CI machine
# gets thirty.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

# <linux/prctl.h>: ask for a signal when the parent process dies.
_PR_SET_PDEATHSIG = 1


class DynaliteError(Exception):
    """dynalite could not be started, or stopped running."""


class Dynalite:
    """A running dynalite process and its endpoint."""

    def __init__(self, process: subprocess.Popen[bytes], endpoint: str) -> None:
        self._process = process
        self.endpoint = endpoint

    @property
    def pid(self) -> int:
        """The process id, which is also its process group id."""
        return self._process.pid

    def poll(self) -> int | None:
        """The exit status if the process has ended, else None."""
        return self._process.poll()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after ``timeout`` seconds.

        Idempotent; returns once the process has been reaped. LevelDB has
        written every acknowledged item to its log by then, so no data of a
        completed request is lost even on SIGKILL.
        """
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()


def start(
    project_dir: Path,
    host: str,
    port: int,
    data_directory: Path,
    *,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Dynalite:
    """Start dynalite on ``host:port`` with its LevelDB store in ``data_directory``.

    Returns once the port accepts connections. Raises ``DynaliteError`` when
    Node or the npm package is missing, the port is taken, or the process
    exits or stays silent past ``timeout`` seconds (it is stopped then).
    """
    node = shutil.which("node")
    if node is None:
        raise DynaliteError("Node.js (node) is not on PATH; install Node 20 or newer.")
    script = project_dir / "node_modules" / ".bin" / "dynalite"
    if not script.exists():
        raise DynaliteError(f"{script} is missing; run `npm ci` (make does).")
    _require_free_port(host, port)
    data_directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    command = [node, str(script), "--host", host, "--port", str(port)]
    command += ["--path", str(data_directory)]
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        command,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),
    )
    dynalite = Dynalite(process, f"http://{host}:{port}")
    try:
        _wait_until_listening(process, host, port, timeout)
    except BaseException:
        dynalite.stop()
        raise
    return dynalite


def _wait_until_listening(
    process: subprocess.Popen[bytes], host: str, port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            raise DynaliteError(f"dynalite exited with status {status} on start.")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise DynaliteError(f"dynalite did not listen on {host}:{port} in {timeout:.0f} s.")


def _require_free_port(host: str, port: int) -> None:
    # Checked before starting, so that a dynalite (or anything else) already
    # on the port is never mistaken for ours.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise DynaliteError(
                f"Port {port} on {host} is in use; set DYNAMO_PORT to a free port."
            ) from error


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that has Linux send SIGTERM to the child when devstack dies."""

    def arrange() -> None:
        if not sys.platform.startswith("linux"):
            return
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            # The parent died before prctl took effect.
            os._exit(1)

    return arrange


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
