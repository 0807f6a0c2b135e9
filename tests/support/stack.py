"""A real local stack (``python -m devstack run``) as a subprocess, for tests.

Each stack gets free ports on 127.0.0.1 and its own ``CERTMINT_HOME``; it is
stopped by its PID (SIGTERM, then SIGKILL), never by name.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chalicelib import config
from devstack.stack import StackOptions

PROJECT_DIR = Path(__file__).resolve().parents[2]
TABLE = "certmint-test"
PBKDF2_ITERATIONS = 1000
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0

_DYNALITE_LINE = re.compile(r"^dynalite: (\S+) \(pid (\d+)", re.MULTILINE)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class LocalStack:
    """One running stack; see the ``stack`` fixture in tests/conftest.py."""

    options: StackOptions
    log_path: Path
    requests_path: Path
    process: subprocess.Popen[bytes]
    dynalite_pid: int = 0
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    # Addresses and ports are the stack's own options, computed one way only.

    @property
    def home(self) -> Path:
        return self.options.home

    @property
    def api_port(self) -> int:
        return self.options.api_port

    @property
    def console_port(self) -> int:
        return self.options.console_port

    @property
    def dynamo_port(self) -> int:
        return self.options.dynamo_port

    @property
    def api_url(self) -> str:
        return self.options.api_url

    @property
    def console_url(self) -> str:
        return self.options.console_url

    @property
    def dynamodb_endpoint(self) -> str:
        return self.options.dynamodb_endpoint

    @property
    def root_ca(self) -> Path:
        return self.home / "ca" / "root.pem"

    @property
    def settings(self) -> config.Settings:
        """Settings for the stack's table, to read and write items from a test."""
        return dataclasses.replace(
            config.load(),
            table_name=TABLE,
            dynamodb_endpoint=self.dynamodb_endpoint,
            region="us-east-1",
            ca_directory=self.home / "ca",
            public_url=self.api_url,
            console_origin=self.console_url,
            pbkdf2_iterations=PBKDF2_ITERATIONS,
        )

    @property
    def env(self) -> dict[str, str]:
        """A complete environment for a CLI subprocess that talks to this stack.

        HOME and the XDG directories point into the stack's temporary tree,
        so a test never reads or writes the real ~/.config; no other
        ``CERTMINT_*`` variable of the caller leaks in.
        """
        user = self.home.parent / "user"
        environ = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CERTMINT_")
        }
        environ.update(
            CERTMINT_API_URL=self.api_url,
            CERTMINT_CA_BUNDLE=str(self.root_ca),
            HOME=str(user),
            XDG_CONFIG_HOME=str(user / ".config"),
            XDG_DATA_HOME=str(user / ".local" / "share"),
            XDG_STATE_HOME=str(user / ".local" / "state"),
            XDG_CACHE_HOME=str(user / ".cache"),
        )
        return environ

    def log_text(self) -> str:
        """Everything the stack printed so far (stdout and stderr)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def recorded_requests(self) -> bytes:
        """Every raw request the API received so far (see devstack.api)."""
        if not self.requests_path.exists():
            return b""
        return self.requests_path.read_bytes()

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> int:
        """Signal the stack's PID (SIGKILL after a timeout); returns its exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.process.returncode


def start_stack(
    home: Path, *, record_requests: bool = True, api_port: int | None = None
) -> LocalStack:
    """Start a stack with ``home`` as CERTMINT_HOME on free ports; wait for ``ready``.

    Raises ``RuntimeError`` with the stack's output when it exits or does not
    print ``ready`` within READY_TIMEOUT_SECONDS (it is stopped then).
    """
    home.mkdir(parents=True, exist_ok=True)
    free_api_port, console_port, dynamo_port = free_ports(3)
    api_port = api_port or free_api_port
    run_id = f"{console_port}"
    log_path = home.parent / f"stack-{run_id}.log"
    requests_path = home.parent / f"requests-{run_id}.bin"
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CERTMINT_")
    }
    environ.update(
        CERTMINT_HOME=str(home),
        CERTMINT_TABLE=TABLE,
        CERTMINT_PBKDF2_ITERATIONS=str(PBKDF2_ITERATIONS),
        API_PORT=str(api_port),
        CONSOLE_PORT=str(console_port),
        DYNAMO_PORT=str(dynamo_port),
        PYTHONUNBUFFERED="1",
    )
    if record_requests:
        environ["CERTMINT_RECORD_REQUESTS"] = str(requests_path)

    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run"],
        cwd=PROJECT_DIR,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = LocalStack(
        options=StackOptions(
            home=home,
            api_port=api_port,
            console_port=console_port,
            dynamo_port=dynamo_port,
        ),
        log_path=log_path,
        requests_path=requests_path,
        process=process,
        _log_file=log_file,
    )
    try:
        _wait_until_ready(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_until_ready(stack: LocalStack) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        text = stack.log_text()
        if re.search(r"^ready\b", text, re.MULTILINE):
            match = _DYNALITE_LINE.search(text)
            if match is None:
                raise RuntimeError(f"The stack named no dynalite PID:\n{text}")
            stack.dynalite_pid = int(match.group(2))
            return
        if stack.process.poll() is not None:
            raise RuntimeError(
                f"The stack exited with {stack.process.returncode}:\n{text}"
            )
        time.sleep(0.1)
    raise RuntimeError(
        f"The stack was not ready in {READY_TIMEOUT_SECONDS:.0f} s:\n{stack.log_text()}"
    )


def process_is_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` has exited (or is a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        # The state is the field after the parenthesised command name.
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
