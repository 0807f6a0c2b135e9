"""What a CLI command needs from the outside world, in one injectable object.

``certmint.cli`` reads a :class:`Services` from click's ``obj``; tests pass
their own (``CliRunner().invoke(cli, args, obj=Services(...))``) with a
private environment, a fake clock and sleep, and a system config path in a
temp directory, instead of patching anything.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from certmint.api import ApiClient
from certmint.config import SYSTEM_CONFIG_PATH, Config, load_config


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@dataclass
class Services:
    """Configuration, API client, clock and environment of one CLI run."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    hostname: Callable[[], str] = socket.gethostname
    show_progress: Callable[[], bool] = _stderr_is_terminal
    system_config_path: Path = SYSTEM_CONFIG_PATH
    # Set from --config / CERTMINT_CONFIG by the CLI.
    config_path: Path | None = None
    _config: Config | None = field(default=None, init=False, repr=False)
    _api: ApiClient | None = field(default=None, init=False, repr=False)

    def config(self) -> Config:
        """Load the configuration once and return it; raises ConfigError."""
        if self._config is None:
            self._config = load_config(
                explicit_path=self.config_path,
                environ=self.environ,
                system_path=self.system_config_path,
            )
        return self._config

    def api(self) -> ApiClient:
        """Return the API client for the configured server, made on first use."""
        if self._api is None:
            config = self.config()
            self._api = ApiClient(
                config.api_url,
                api_key=config.api_key,
                ca_bundle=config.ca_bundle,
                sleep=self.sleep,
            )
        return self._api

    def close(self) -> None:
        """Release the API client's connections; idempotent."""
        if self._api is not None:
            self._api.close()
            self._api = None
