"""The one error tree of the server.

    CertmintError                 (status, code, message)
     ├── BadRequest               400 — the request is malformed or refused
     ├── Unauthenticated          401 — no valid credential
     ├── Forbidden                403 — credential of the wrong kind
     ├── NotFound                 404 — no such object *in this account*
     ├── MethodNotAllowed         405
     ├── Conflict                 409 — uniqueness or a concurrent edit lost
     ├── PayloadTooLarge          413
     ├── UnsupportedMediaType     415
     └── InternalError            500 — never carries detail to the client

Domain code raises these with a stable ``code`` (see docs/api.md); ``app.py``
turns them into ``{"error": {"code", "message"}}`` with the status. Lower-layer
errors (botocore, cryptography) are translated where they are caught, with
``raise ... from``, and never reach a response as they are.
"""

from __future__ import annotations


class CertmintError(Exception):
    """Root of every error the API reports to a client."""

    status = 500

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(CertmintError):
    status = 400


class Unauthenticated(CertmintError):
    status = 401


class Forbidden(CertmintError):
    status = 403


class NotFound(CertmintError):
    status = 404


class MethodNotAllowed(CertmintError):
    status = 405


class Conflict(CertmintError):
    status = 409


class PayloadTooLarge(CertmintError):
    status = 413


class UnsupportedMediaType(CertmintError):
    status = 415


class InternalError(CertmintError):
    status = 500

    def __init__(self, request_id: str = "") -> None:
        suffix = f" (request {request_id})" if request_id else ""
        super().__init__("internal_error", f"Something went wrong on our side{suffix}.")
