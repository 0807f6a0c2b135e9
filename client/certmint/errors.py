"""The one error tree of the certmint client, and the exit codes it maps to.

    ClientError                   exit 1 — anything the user must read and fix
     ├── ConfigError              a config file or setting is unusable
     ├── TransportError           no HTTP exchange with the server happened
     │    └── ServerCertificateError   the server's TLS certificate did not verify
     ├── ApiError                 the server answered {"error": {"code", "message"}}
     ├── LocalFileError           a key or certificate file cannot be made or replaced
     ├── IssuanceFailed           the server reports the instance failed or was revoked
     ├── NotDownloaded            exit 12 — ended (--no-wait, timeout) before a download
     └── KeyMismatch              exit 13 — the server's certificate is not for our key

Lower-layer errors (httpx, OSError, cryptography) are translated into these at
the module that catches them, with ``raise ... from``; ``cli.py`` prints
``error: <message>`` and exits with ``exit_code``. Messages are full sentences
and never contain a key, password, token or API key.
"""

from __future__ import annotations

# Exit codes. 10 and 12 follow the SSLMate CLI so that cron jobs written for it
# keep working; 13 is ours (a mismatched pair must never pass silently).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_ALREADY_CURRENT = 10
EXIT_NOT_DOWNLOADED = 12
EXIT_KEY_MISMATCH = 13


class ClientError(Exception):
    """Root of every error the client reports to its user."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def user_message(self) -> str:
        """Return the one line printed after ``error:``."""
        return self.message


class ConfigError(ClientError):
    """A config file cannot be read or holds an unusable value."""


class TransportError(ClientError):
    """The request never got an HTTP answer (DNS, refused, timeout, TLS)."""


class ServerCertificateError(TransportError):
    """The server's certificate did not verify against the configured trust."""


class ApiError(ClientError):
    """The server refused a request with its documented error document."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def user_message(self) -> str:
        return f"{self.message} ({self.code})"


class LocalFileError(ClientError):
    """A local key or certificate file cannot be created, read or replaced."""


class IssuanceFailed(ClientError):
    """The instance we waited for ended in a state other than ``issued``."""


class NotDownloaded(ClientError):
    """The command ended without downloading a certificate (exit 12)."""

    exit_code = EXIT_NOT_DOWNLOADED


class KeyMismatch(ClientError):
    """The certificate from the server is not for the local private key (exit 13)."""

    exit_code = EXIT_KEY_MISMATCH
