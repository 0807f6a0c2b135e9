"""Start the whole local stack in one process and stop all of it on a signal.

Settings come from the environment, with these defaults:

    API_PORT=8444  CONSOLE_PORT=8443  DYNAMO_PORT=8000
    CERTMINT_HOME=<repository>/.certmint   (db/, ca/, tls/ go under it)
    CERTMINT_RECORD_REQUESTS=<file>        (tests only; see devstack.api)

Order of start: CA and server certificate, the app's environment, the two
listening sockets, dynalite, the table, then the servers; ``ready`` is
printed last. SIGINT, SIGTERM and SIGHUP stop the servers and then dynalite,
by its process group id. If dynalite dies, the stack stops with status 1.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chalice.config import Config

from devstack import dynalite, tls
from devstack.api import ApiServer, RequestRecorder
from devstack.console import ConsoleServer
from devstack.httpserver import TLSServer

HOST = "127.0.0.1"
PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "dev"

_log = logging.getLogger("devstack")


class StackError(Exception):
    """The stack could not start; the message says why and what to do."""


@dataclass(frozen=True)
class StackOptions:
    """Where the stack listens and keeps its files."""

    home: Path
    api_port: int
    console_port: int
    dynamo_port: int
    project_dir: Path = PROJECT_DIR
    record_requests: Path | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> StackOptions:
        """Read the options from ``environ``; raises StackError on a bad port."""
        home = Path(environ.get("CERTMINT_HOME") or PROJECT_DIR / ".certmint")
        record = environ.get("CERTMINT_RECORD_REQUESTS")
        return cls(
            home=home.resolve(),
            api_port=_port(environ, "API_PORT", 8444),
            console_port=_port(environ, "CONSOLE_PORT", 8443),
            dynamo_port=_port(environ, "DYNAMO_PORT", 8000),
            record_requests=Path(record).resolve() if record else None,
        )

    @property
    def api_url(self) -> str:
        return f"https://localhost:{self.api_port}"

    @property
    def console_url(self) -> str:
        return f"https://localhost:{self.console_port}"

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://{HOST}:{self.dynamo_port}"


def app_environment(options: StackOptions) -> dict[str, str]:
    """The variables the app gets from the stack, which win over the caller's.

    The dummy AWS credentials only satisfy request signing (dynalite checks
    none). The shared AWS config files are pointed at the null device and the
    instance metadata service is disabled, so boto3 never reads a developer's
    real profile nor probes 169.254.169.254 for credentials.
    """
    return {
        "CERTMINT_HOME": str(options.home),
        "CERTMINT_DYNAMODB_ENDPOINT": options.dynamodb_endpoint,
        "CERTMINT_CA_DIR": str(options.home / "ca"),
        "CERTMINT_PUBLIC_URL": options.api_url,
        "CERTMINT_CONSOLE_ORIGIN": options.console_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # a placeholder, not a secret
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


# Variables that would make boto3 prefer a named profile or a session over
# the dummy credentials above.
_UNSET_AWS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def chalice_config(project_dir: Path) -> Config:
    """The ``dev`` stage of ``.chalice/config.json``, as ``chalice local`` reads it."""
    config_file = project_dir / ".chalice" / "config.json"
    try:
        from_disk = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StackError(f"Cannot read {config_file}: {error}") from error
    return Config(
        chalice_stage=STAGE,
        user_provided_params={"project_dir": str(project_dir)},
        config_from_disk=from_disk,
    )


def run(options: StackOptions) -> int:
    """Run the stack in the foreground until a signal; returns the exit status."""
    stop = threading.Event()
    _install_signal_handlers(stop)

    # The home holds the CA's keys: private to the user from its first byte.
    options.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    root_certificate, chain, key = tls.prepare_certificates(options.home)
    context = tls.server_context(chain, key)

    config = chalice_config(options.project_dir)
    # The stage's variables, as in Lambda; a variable the caller set wins, so
    # that tests can pick a table. The stack's own variables win over both.
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, str(value))
    os.environ.update(app_environment(options))
    for name in _UNSET_AWS:
        os.environ.pop(name, None)

    if str(options.project_dir) not in sys.path:
        sys.path.insert(0, str(options.project_dir))
    app = importlib.import_module("app").app

    recorder = None
    if options.record_requests is not None:
        recorder = RequestRecorder(options.record_requests)
    servers: list[TLSServer] = []
    database: dynalite.Dynalite | None = None
    try:
        servers.append(
            _bind(
                "API_PORT",
                lambda: ApiServer(
                    (HOST, options.api_port), context, app, config, recorder
                ),
            )
        )
        servers.append(
            _bind(
                "CONSOLE_PORT",
                lambda: ConsoleServer(
                    (HOST, options.console_port),
                    context,
                    options.project_dir / "static_site",
                    options.api_url,
                ),
            )
        )
        database = dynalite.start(
            options.project_dir, HOST, options.dynamo_port, options.home / "db"
        )
        _ensure_table()

        for server in servers:
            threading.Thread(
                target=server.serve_forever, name=f"{server.name}-server", daemon=True
            ).start()
        _announce(options, root_certificate, database)

        while not stop.wait(0.5):
            if database.poll() is not None:
                _log.error("dynalite exited (status %s); stopping", database.poll())
                return 1
        return 0
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        if database is not None:
            database.stop()
        print("stopped", flush=True)


def _ensure_table() -> None:
    from chalicelib import config, storage

    storage.ensure_table(config.load())


def _announce(
    options: StackOptions, root_certificate: Path, database: dynalite.Dynalite
) -> None:
    lines = (
        f"API:      {options.api_url}/v1  (also https://{HOST}:{options.api_port})",
        f"console:  {options.console_url}/",
        f"root CA:  {root_certificate}",
        f"dynalite: {database.endpoint} (pid {database.pid}, data in "
        f"{options.home / 'db'})",
        f"try:      curl --cacert {root_certificate} {options.api_url}/v1/health",
        "ready (Ctrl-C stops everything)",
    )
    print("\n".join(lines), flush=True)


def _bind(variable: str, make: Callable[[], TLSServer]) -> TLSServer:
    try:
        return make()
    except OSError as error:
        raise StackError(
            f"Cannot listen on the {variable} port: {error.strerror}. "
            f"Set {variable} to a free port."
        ) from error


def _install_signal_handlers(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StackError(f"{name}={value!r} is not a TCP port number.")
    return int(value)
