"""HTTP client for the certmint API (docs/api.md), and the one place where
httpx, ssl and socket errors are translated into :mod:`certmint.errors`.

The server's certificate is always verified, against ``ca_bundle`` when one is
configured and the system store otherwise; there is deliberately no switch to
turn that off. Requests log one INFO line (method, URL, status) and nothing
else: never a header, a body, a credential or a key.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from certmint import __version__
from certmint.errors import (
    ApiError,
    ConfigError,
    ServerCertificateError,
    TransportError,
)

logger = logging.getLogger("certmint.api")

JsonObject = dict[str, Any]

# Connect and read limits for every request. Issuance is polled, never held
# open, so no single response should take anywhere near 30 s.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 30.0

# A response larger than this is not one of ours (the largest is a list of
# certificates with up to 100 names each); stop reading instead of filling
# memory.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024

# Three attempts in all, 1 s then 2 s apart unless the server says otherwise
# with Retry-After (RFC 9110, 10.2.3), which is honoured up to a minute.
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 2.0)
MAX_RETRY_AFTER_SECONDS = 60.0

# RFC 9110, 9.2.2. A POST is retried only when it carries an Idempotency-Key.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def quote_segment(name: str) -> str:
    """Percent-encode ``name`` as one path segment (``*`` becomes ``%2A``)."""
    return urllib.parse.quote(name, safe="")


def parse_retry_after(value: str | None) -> float | None:
    """Return the delay in seconds of a ``Retry-After`` header, or None.

    Only the delay-seconds form is used; an HTTP date or garbage gives None,
    and large values are capped at :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class ApiResponse:
    """A successful response: its status, JSON body and Retry-After hint."""

    status: int
    body: JsonObject
    retry_after: float | None


def _root_causes(error: BaseException) -> list[BaseException]:
    causes: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(causes) < 10:
        causes.append(current)
        current = current.__cause__ or current.__context__
    return causes


def _translate_transport_error(error: httpx.TransportError, url: str) -> Exception:
    for cause in _root_causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or str(cause)
            return ServerCertificateError(
                f"cannot verify the server certificate of {url}: {reason} (a "
                f"private CA's root goes in CERTMINT_CA_BUNDLE or ca_bundle)"
            )
        if isinstance(cause, ssl.SSLError):
            return TransportError(
                f"TLS handshake with {url} failed: {cause.reason or cause}"
            )
    if isinstance(error, httpx.TimeoutException):
        return TransportError(f"{url} did not answer in time ({type(error).__name__})")
    return TransportError(f"cannot connect to {url}: {error or type(error).__name__}")


class ApiClient:
    """A thin, typed client of the certmint API.

    Each method makes one logical call and returns the documented JSON object,
    or raises :class:`ApiError` (the server's ``{"error": {...}}``),
    :class:`ServerCertificateError` or :class:`TransportError`. Idempotent
    calls and calls with an Idempotency-Key are retried on 5xx and connection
    errors; certificate errors are never retried.
    """

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None,
        ca_bundle: Path | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = _origin(api_url)
        self._api_key = api_key
        self._sleep = sleep
        try:
            context = (
                ssl.create_default_context(cafile=str(ca_bundle))
                if ca_bundle
                else ssl.create_default_context()
            )
        except (OSError, ssl.SSLError) as error:
            raise TransportError(
                f"cannot load the CA bundle {ca_bundle}: {error}"
            ) from error
        self._http = httpx.Client(
            verify=context,
            timeout=httpx.Timeout(
                READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS
            ),
            headers={
                "User-Agent": f"certmint-cli/{__version__}",
                "Accept": "application/json",
            },
            follow_redirects=False,
            trust_env=False,
        )

    def __repr__(self) -> str:
        key = "None" if self._api_key is None else "'***'"
        return f"ApiClient(api_url={self.api_url!r}, api_key={key})"

    @property
    def has_api_key(self) -> bool:
        """Tell whether an API key is configured."""
        return self._api_key is not None

    def close(self) -> None:
        """Close the connection pool; the client must not be used afterwards."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JsonObject | None = None,
        credential: str | None = None,
        authenticated: bool = True,
        idempotency_key: str | None = None,
    ) -> ApiResponse:
        """Send one API request, retrying when that is safe, and return the answer.

        ``credential`` overrides the configured API key (a session token during
        signup); ``authenticated=False`` sends none. Raises as the class says.
        """
        url = self.api_url + path
        headers: dict[str, str] = {}
        if authenticated:
            token = credential or self._api_key
            if token is None:
                raise ConfigError(
                    "no API key is configured; run certmint link or certmint signup"
                )
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        content = None
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        retryable = method in _IDEMPOTENT_METHODS or idempotency_key is not None

        attempt = 0
        while True:
            attempt += 1
            delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
            try:
                status, data, retry_after = self._send(method, url, headers, content)
            except ServerCertificateError:
                raise
            except TransportError:
                if not retryable or attempt >= MAX_ATTEMPTS:
                    raise
                self._sleep(delay)
                continue
            if status >= 500 and retryable and attempt < MAX_ATTEMPTS:
                self._sleep(retry_after if retry_after is not None else delay)
                continue
            return _interpret(status, data, retry_after)

    def _send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, bytes, float | None]:
        request = self._http.build_request(
            method, url, headers=headers, content=content
        )
        try:
            response = self._http.send(request, stream=True)
            try:
                data = _read_capped(response)
            finally:
                response.close()
        except httpx.TransportError as error:
            logger.info("%s %s -> %s", method, url, type(error).__name__)
            raise _translate_transport_error(error, self.api_url) from error
        logger.info("%s %s -> %d", method, url, response.status_code)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return response.status_code, data, retry_after

    # Routes, in the order of docs/api.md.

    def create_account(self, email: str, password: str) -> JsonObject:
        """``POST /v1/accounts``: sign up; returns ``{"account", "session"}``."""
        body = {"email": email, "password": password}
        return self.request("POST", "/v1/accounts", body=body, authenticated=False).body

    def create_session(self, email: str, password: str) -> JsonObject:
        """``POST /v1/sessions``: sign in; returns ``{"account", "session"}``."""
        body = {"email": email, "password": password}
        return self.request("POST", "/v1/sessions", body=body, authenticated=False).body

    def delete_current_session(self, session_token: str) -> None:
        """``DELETE /v1/sessions/current``: sign the session out; idempotent."""
        self.request("DELETE", "/v1/sessions/current", credential=session_token)

    def create_api_key(self, name: str, session_token: str) -> JsonObject:
        """``POST /v1/api-keys``; returns ``{"api_key", "key"}`` (the secret, once)."""
        return self.request(
            "POST", "/v1/api-keys", body={"name": name}, credential=session_token
        ).body

    def create_certificate(
        self, names: list[str], name: str | None, auto_renew: bool
    ) -> JsonObject:
        """``POST /v1/certificates``; returns the certificate object."""
        body: JsonObject = {"names": names, "auto_renew": auto_renew}
        if name is not None:
            body["name"] = name
        return _field(
            self.request("POST", "/v1/certificates", body=body).body, "certificate"
        )

    def list_certificates(self) -> list[JsonObject]:
        """``GET /v1/certificates``; returns the certificates sorted by name."""
        body = self.request("GET", "/v1/certificates").body
        certificates = body.get("certificates")
        if not isinstance(certificates, list):
            raise _bad_response("certificates")
        return certificates

    def get_certificate(self, name: str) -> JsonObject:
        """``GET /v1/certificates/{name}``; returns the certificate object."""
        return _field(self.request("GET", _certificate_path(name)).body, "certificate")

    def edit_certificate(self, name: str, changes: JsonObject) -> JsonObject:
        """``PATCH /v1/certificates/{name}``; returns the updated certificate."""
        path = _certificate_path(name)
        return _field(self.request("PATCH", path, body=changes).body, "certificate")

    def create_instance(
        self, name: str, csr_pem: str, idempotency_key: str
    ) -> JsonObject:
        """``POST .../instances`` with a CSR; returns the new instance.

        Safe to retry: the server returns the first instance for a repeated
        ``idempotency_key``.
        """
        response = self.request(
            "POST",
            _certificate_path(name) + "/instances",
            body={"csr": csr_pem},
            idempotency_key=idempotency_key,
        )
        return _field(response.body, "instance")

    def get_instance(
        self, name: str, instance_id: str
    ) -> tuple[JsonObject, float | None]:
        """``GET .../instances/{id}``; returns the instance and any Retry-After."""
        path = f"{_certificate_path(name)}/instances/{quote_segment(instance_id)}"
        response = self.request("GET", path)
        return _field(response.body, "instance"), response.retry_after

    def reissue(self, name: str, idempotency_key: str) -> JsonObject:
        """``POST .../reissue``: same key, current names; returns the instance.

        Safe to retry, like :meth:`create_instance`.
        """
        path = _certificate_path(name) + "/reissue"
        response = self.request("POST", path, body={}, idempotency_key=idempotency_key)
        return _field(response.body, "instance")

    def revoke(self, name: str, *, include_current: bool) -> list[JsonObject]:
        """``POST .../revoke``; returns the instances that were revoked."""
        path = _certificate_path(name) + "/revoke"
        body = self.request("POST", path, body={"all": include_current}).body
        revoked = body.get("revoked")
        if not isinstance(revoked, list):
            raise _bad_response("revoked")
        return revoked

    def current(self, name: str) -> JsonObject:
        """``GET .../current``; returns ``{"instance", "certificate", "chain"}``."""
        return self.request("GET", _certificate_path(name) + "/current").body


def _origin(api_url: str) -> str:
    # docs/api.md quotes the base as ".../v1" while every route path starts
    # with /v1; accept both spellings in the config.
    url = api_url.rstrip("/")
    return url.removesuffix("/v1")


def _certificate_path(name: str) -> str:
    return f"/v1/certificates/{quote_segment(name)}"


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ApiError(
                "response_too_large",
                f"The server's answer exceeded {MAX_RESPONSE_BYTES} bytes.",
                response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _interpret(status: int, data: bytes, retry_after: float | None) -> ApiResponse:
    parsed: object = None
    if data:
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            parsed = None
    if 200 <= status < 300:
        if status == 204 or not data:
            return ApiResponse(status, {}, retry_after)
        if not isinstance(parsed, dict):
            raise ApiError(
                "invalid_response",
                f"The server answered HTTP {status} without a JSON object.",
                status,
            )
        return ApiResponse(status, parsed, retry_after)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    ):
        raise ApiError(_printable(error["code"]), _printable(error["message"]), status)
    raise ApiError(
        f"http_{status}",
        f"The server answered HTTP {status} without an error document.",
        status,
    )


def _printable(text: str, limit: int = 500) -> str:
    """Server text made safe for a terminal: no escape sequences or newlines.

    A hostile or broken server must not be able to retitle the user's
    terminal, fake output lines, or flood it.
    """
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def _bad_response(field_name: str) -> ApiError:
    return ApiError(
        "invalid_response",
        f"The server's answer lacks the field {field_name!r}.",
        200,
    )


def _field(body: JsonObject, field_name: str) -> JsonObject:
    value = body.get(field_name)
    if not isinstance(value, dict):
        raise _bad_response(field_name)
    return value
