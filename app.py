"""certmint API: routes and schedules only.

Each route parses its input, calls one domain function in ``chalicelib/``
and shapes the response. Errors from the domain (``chalicelib.errors``) become
``{"error": {"code", "message"}}`` here, at one boundary; anything unexpected
becomes a generic 500 with one logged traceback and the request id.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice.app import Chalice, CORSConfig, Request, Response

from chalicelib import accounts, certificates, config
from chalicelib.clock import utcnow
from chalicelib.errors import (
    BadRequest,
    CertmintError,
    InternalError,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from chalicelib.http_headers import SECURITY_HEADERS
from chalicelib.issuers import PrivateCAIssuer
from chalicelib.storage import Table

app = Chalice(app_name="certmint")
app.api.binary_types.append("application/pkix-crl")
log = logging.getLogger("certmint.api")
log.setLevel(logging.INFO)

MAX_BODY_BYTES = 64 * 1024  # the largest CSR we take is 48 KiB (chalicelib/csr.py)
OPENAPI_PATH = Path(__file__).parent / "chalicelib" / "openapi.json"
CORS = CORSConfig(
    allow_origin=config.load().console_origin,
    allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
    max_age=600,
)

View = Callable[..., Any]


def _error(error: CertmintError) -> Response:
    return Response(
        body=json.dumps(error.to_body()),
        status_code=error.status,
        headers={"Content-Type": "application/json"},
    )


@app.middleware("http")
def _every_response(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Security headers on every response, and one log line per request."""
    started = time.monotonic()
    response = _in_our_shape(get_response(event))
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    log.info(
        "%s %s %s %dms request_id=%s",
        event.method,
        event.context.get("resourcePath", "?"),
        response.status_code,
        (time.monotonic() - started) * 1000,
        event.context.get("requestId", "-"),
    )
    return response


# Chalice answers some requests itself (wrong method, wrong media type) with
# {"Code", "Message"}; clients rely on one error shape, so those are rewritten.
_CHALICE_ERRORS: dict[int, CertmintError] = {
    400: BadRequest("invalid_request", "The request is malformed."),
    405: MethodNotAllowed(
        "method_not_allowed", "This route does not take that method."
    ),
    413: PayloadTooLarge("payload_too_large", "The request body is over 64 KiB."),
    415: UnsupportedMediaType(
        "unsupported_media_type", "Send the body as application/json."
    ),
}


def _in_our_shape(response: Response) -> Response:
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        known = _CHALICE_ERRORS.get(response.status_code)
        return _error(known or InternalError())
    return response


def route(path: str, method: str, status: int = 200) -> Callable[[View], View]:
    """Register a view; its dict result becomes JSON with ``status``."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            try:
                result = view(*args, **kwargs)
            except CertmintError as error:
                return _error(error)
            except Exception:
                request_id = _request().context.get("requestId", "")
                log.exception("unhandled error request_id=%s", request_id)
                return _error(InternalError(request_id))
            if isinstance(result, Response):
                return result
            if result is None:
                return Response(body="", status_code=204, headers={})
            return Response(
                body=json.dumps(result),
                status_code=status,
                headers={"Content-Type": "application/json"},
            )

        app.route(path, methods=[method], cors=CORS)(wrapped)
        return view

    return register


# ---- request helpers -------------------------------------------------------


def _body(
    required: dict[str, type], optional: dict[str, type] | None = None
) -> dict[str, Any]:
    """The JSON object body, checked field by field (unknown fields refused)."""
    request = _request()
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("payload_too_large", "The request body is over 64 KiB.")
    if raw and not request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise UnsupportedMediaType(
            "unsupported_media_type", "Send the body as application/json."
        )
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        raise BadRequest("invalid_json", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid_json", "The body must be a JSON object.")
    fields = {**required, **(optional or {})}
    for key in body:
        if key not in fields:
            raise BadRequest("invalid_request", f"Unknown field {key!r}.")
    for key, kind in fields.items():
        if key not in body:
            if key in required:
                raise BadRequest("invalid_request", f"The field {key!r} is required.")
            continue
        value = body[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok:
            expected = {
                str: "a string",
                bool: "true or false",
                list: "a list of strings",
            }
            raise BadRequest(
                "invalid_request",
                f"The field {key!r} must be {expected.get(kind, kind)}.",
            )
    return body


def _request() -> Request:
    request = app.current_request
    assert request is not None  # Chalice sets it before calling any view
    return request


def _table() -> Table:
    return Table(config.load())


def _principal(table: Table) -> accounts.Principal:
    headers = _request().headers
    return accounts.authenticate(table, headers.get("authorization"), utcnow())


def _issuer() -> PrivateCAIssuer:
    return PrivateCAIssuer(config.load())


def _idempotency_key() -> str | None:
    return certificates.check_idempotency_key(_request().headers.get("idempotency-key"))


# ---- public routes ---------------------------------------------------------


@route("/v1/health", "GET")
def health() -> dict[str, str]:
    return {"status": "ok"}


@route("/v1/openapi.json", "GET")
def openapi() -> Response:
    return Response(
        body=OPENAPI_PATH.read_text(encoding="utf-8"),
        headers={"Content-Type": "application/json"},
    )


@route("/v1/crl", "GET")
def crl() -> Response:
    der = certificates.crl(_table(), _issuer(), utcnow())
    return Response(
        body=der,
        headers={
            "Content-Type": "application/pkix-crl",
            "Cache-Control": "max-age=300",
        },
    )


# ---- accounts --------------------------------------------------------------


@route("/v1/accounts", "POST", status=201)
def sign_up() -> dict[str, Any]:
    body = _body({"email": str, "password": str})
    account, session = accounts.sign_up(
        _table(), config.load(), body["email"], body["password"], utcnow()
    )
    return {"account": account, "session": session}


@route("/v1/sessions", "POST", status=201)
def sign_in() -> dict[str, Any]:
    body = _body({"email": str, "password": str})
    account, session = accounts.sign_in(
        _table(), config.load(), body["email"], body["password"], utcnow()
    )
    return {"account": account, "session": session}


@route("/v1/sessions/current", "DELETE")
def sign_out() -> None:
    table = _table()
    accounts.sign_out(table, _principal(table))


@route("/v1/account", "GET")
def account() -> dict[str, Any]:
    table = _table()
    return {"account": accounts.get_account(table, _principal(table))}


@route("/v1/api-keys", "POST", status=201)
def create_api_key() -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    body = _body({"name": str})
    api_key, key = accounts.create_api_key(table, principal, body["name"], utcnow())
    return {"api_key": api_key, "key": key}


@route("/v1/api-keys", "GET")
def list_api_keys() -> dict[str, Any]:
    table = _table()
    return {"api_keys": accounts.list_api_keys(table, _principal(table))}


@route("/v1/api-keys/{key_id}", "DELETE")
def revoke_api_key(key_id: str) -> None:
    table = _table()
    accounts.revoke_api_key(table, _principal(table), key_id)


# ---- certificates ----------------------------------------------------------


@route("/v1/certificates", "POST", status=201)
def create_certificate() -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    body = _body({"names": list}, {"name": str, "auto_renew": bool})
    certificate = certificates.create(
        table,
        principal,
        body["names"],
        body.get("name"),
        body.get("auto_renew", True),
        utcnow(),
    )
    return {"certificate": certificate}


@route("/v1/certificates", "GET")
def list_certificates() -> dict[str, Any]:
    table = _table()
    return {"certificates": certificates.list_all(table, _principal(table))}


@route("/v1/certificates/{name}", "GET")
def show_certificate(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    return {
        "certificate": certificates.show(table, _issuer(), principal, name, utcnow())
    }


@route("/v1/certificates/{name}", "PATCH")
def edit_certificate(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    body = _body({}, {"add_names": list, "remove_names": list, "auto_renew": bool})
    certificate = certificates.edit(
        table,
        principal,
        name,
        body.get("add_names", []),
        body.get("remove_names", []),
        body.get("auto_renew"),
        utcnow(),
    )
    return {"certificate": certificate}


@route("/v1/certificates/{name}/instances", "POST", status=201)
def submit_csr(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    body = _body({"csr": str})
    instance = certificates.submit_csr(
        table, _issuer(), principal, name, body["csr"], _idempotency_key(), utcnow()
    )
    return {"instance": instance}


@route("/v1/certificates/{name}/instances", "GET")
def list_instances(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    return {
        "instances": certificates.list_instances(
            table, _issuer(), principal, name, utcnow()
        )
    }


@route("/v1/certificates/{name}/instances/{instance_id}", "GET")
def show_instance(name: str, instance_id: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    instance = certificates.get_instance(
        table, _issuer(), principal, name, instance_id, utcnow()
    )
    return {"instance": instance}


@route("/v1/certificates/{name}/reissue", "POST", status=201)
def reissue(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    _body({})
    instance = certificates.reissue(
        table, _issuer(), principal, name, _idempotency_key(), utcnow()
    )
    return {"instance": instance}


@route("/v1/certificates/{name}/revoke", "POST")
def revoke(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    body = _body({}, {"all": bool})
    revoked = certificates.revoke(
        table, principal, name, body.get("all", False), utcnow()
    )
    return {"revoked": revoked}


@route("/v1/certificates/{name}/current", "GET")
def current(name: str) -> dict[str, Any]:
    table = _table()
    principal = _principal(table)
    return certificates.current(table, _issuer(), principal, name, utcnow())
