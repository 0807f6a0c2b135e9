"""Accounts, sign-in sessions and API keys.

Items (partition ``pk`` / sort ``sk``; see docs/architecture.md):

- ``ACCOUNT#<id>`` / ``ACCOUNT``: email, password_hash, created_at
- ``EMAIL#<email>`` / ``EMAIL``: account_id — claimed with a conditional put,
  which is what makes an email address unique
- ``ACCOUNT#<id>`` / ``SESSION#<sid>``: digest, created_at, expires_at,
  expires_ttl (DynamoDB TTL cleans up; expiry is checked on every read)
- ``ACCOUNT#<id>`` / ``APIKEY#<kid>``: digest, name, created_at

Sign-up writes the account item first and claims the email second, so a
Lambda that dies between the two leaves only an unreachable account item and
the email free for the retry; never an email pointing at nothing.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr

from chalicelib import credentials, passwords
from chalicelib.clock import rfc3339
from chalicelib.config import Settings
from chalicelib.credentials import Kind
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from chalicelib.storage import ConditionFailed, Item, Table

MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit, less the brackets
MAX_KEY_NAME_LENGTH = 100
# A deliberately loose check: one @, a dotted domain, no spaces or controls.
# Deliverability is proven by email, not by a regular expression.
_EMAIL_SHAPE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, and with which kind of credential."""

    account_id: str
    kind: Kind
    credential_id: str


def normalize_email(raw: str) -> str:
    """Trimmed, NFC, lowercased email; raises BadRequest(invalid_email)."""
    email = unicodedata.normalize("NFC", raw.strip()).lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_SHAPE.fullmatch(email):
        raise BadRequest("invalid_email", "That does not look like an email address.")
    if any(unicodedata.category(ch).startswith("C") for ch in email):
        raise BadRequest("invalid_email", "That does not look like an email address.")
    return email


def account_view(item: Item) -> dict[str, Any]:
    """Return the API's JSON shape of a stored account: id, email, created_at.
    Pure; it never includes the password hash or any credential."""
    return {
        "id": item["pk"].removeprefix("ACCOUNT#"),
        "email": item["email"],
        "created_at": item["created_at"],
    }


def sign_up(
    table: Table, settings: Settings, email: str, password: str, now: datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    """Create an account and a first session; returns (account, session)."""
    email = normalize_email(email)
    passwords.check_policy(password, user_inputs=(email, email.split("@")[0]))
    account_id = credentials.new_id(credentials.ACCOUNT_ID_LENGTH)
    account = {
        "pk": f"ACCOUNT#{account_id}",
        "sk": "ACCOUNT",
        "email": email,
        "password_hash": passwords.hash_password(password, settings.pbkdf2_iterations),
        "created_at": rfc3339(now),
    }
    table.put_new(account)
    try:
        table.put_new(
            {
                "pk": f"EMAIL#{email}",
                "sk": "EMAIL",
                "account_id": account_id,
                "created_at": rfc3339(now),
            }
        )
    except ConditionFailed:
        table.delete(account["pk"], account["sk"])
        raise Conflict(
            "email_taken", "An account with this email already exists; sign in instead."
        ) from None
    return account_view(account), _new_session(table, settings, account_id, now)


def sign_in(
    table: Table, settings: Settings, email: str, password: str, now: datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check email and password; returns (account, new session).

    Every refusal costs the policy's full PBKDF2 work: unknown emails verify
    against a dummy hash, and a wrong password for an old, cheaper hash makes
    up the difference, so timing tells neither which emails exist nor which
    hashes are old. A stored hash weaker than the policy is replaced on
    success, conditional on it being unchanged, so a concurrent password
    change is never overwritten.
    """
    # TODO: throttle attempts per email and per source address (counters kept
    # by conditional writes, with expiry checked on read) before launch.
    wrong = Unauthenticated("invalid_credentials", "Wrong email or password.")
    try:
        email = normalize_email(email)
    except BadRequest:
        email = ""
    claim = table.get(f"EMAIL#{email}", "EMAIL") if email else None
    # Two reads whether or not the email exists, so that the read count does
    # not tell them apart either; the second one finds nothing for strangers.
    account_id = claim["account_id"] if claim else "-"
    account = table.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    if account is None or len(password) > passwords.MAX_LENGTH:
        _burn(password, settings.pbkdf2_iterations)
        raise wrong
    stored = account["password_hash"]
    try:
        passwords.verify_password(password, stored)
    except passwords.WrongPassword:
        shortfall = settings.pbkdf2_iterations - passwords.iterations_of(stored)
        if shortfall > 0:
            _burn(password, shortfall)
        raise wrong from None
    if passwords.needs_rehash(stored, settings.pbkdf2_iterations):
        _upgrade_hash(table, settings, account, password)
    account_id = account["pk"].removeprefix("ACCOUNT#")
    return account_view(account), _new_session(table, settings, account_id, now)


def _burn(password: str, iterations: int) -> None:
    """Spend ``iterations`` rounds of PBKDF2 on nothing (see sign_in)."""
    with contextlib.suppress(passwords.WrongPassword):
        passwords.verify_password(
            password[: passwords.MAX_LENGTH], passwords.dummy_hash(iterations)
        )


def _upgrade_hash(
    table: Table, settings: Settings, account: Item, password: str
) -> None:
    new_hash = passwords.hash_password(password, settings.pbkdf2_iterations)
    try:
        table.update(
            account["pk"],
            "ACCOUNT",
            {"password_hash": new_hash},
            condition=Attr("password_hash").eq(account["password_hash"]),
        )
    except ConditionFailed:
        pass  # the password changed meanwhile; that newer hash stands


def _new_session(
    table: Table, settings: Settings, account_id: str, now: datetime
) -> dict[str, str]:
    credential = credentials.mint(Kind.SESSION, account_id)
    expires = now + timedelta(seconds=settings.session_lifetime_seconds)
    table.put_new(
        {
            "pk": f"ACCOUNT#{account_id}",
            "sk": f"SESSION#{credential.credential_id}",
            "digest": credential.digest,
            "created_at": rfc3339(now),
            "expires_at": rfc3339(expires),
            "expires_ttl": int(expires.timestamp()),
        }
    )
    return {"token": credential.value, "expires_at": rfc3339(expires)}


def authenticate(table: Table, authorization: str | None, now: datetime) -> Principal:
    """The caller behind an ``Authorization: Bearer ...`` header.

    Raises Unauthenticated for a missing, malformed, unknown, revoked or
    expired credential. Unknown, revoked and wrong-secret credentials get one
    message, so probing learns nothing; "malformed" and "expired" only tell
    the caller what it already holds.
    """
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":  # schemes are case-insensitive (RFC 9110 §11.1)
        raise Unauthenticated(
            "unauthenticated",
            "Send an API key or session token as a Bearer credential.",
        )
    presented = credentials.parse(value.strip())
    sort_prefix = "APIKEY#" if presented.kind is Kind.API_KEY else "SESSION#"
    item = table.get(
        f"ACCOUNT#{presented.account_id}", sort_prefix + presented.credential_id
    )
    if item is None:
        raise Unauthenticated("unauthenticated", "The credential is not valid.")
    credentials.require_digest(presented, item["digest"])
    if presented.kind is Kind.SESSION and item["expires_at"] <= rfc3339(now):
        raise Unauthenticated(
            "unauthenticated", "The session has expired; sign in again."
        )
    return Principal(presented.account_id, presented.kind, presented.credential_id)


def sign_out(table: Table, principal: Principal) -> None:
    """End the calling session. Idempotent."""
    if principal.kind is not Kind.SESSION:
        raise Forbidden("session_required", "Only a session can be signed out.")
    table.delete(
        f"ACCOUNT#{principal.account_id}", f"SESSION#{principal.credential_id}"
    )


def get_account(table: Table, principal: Principal) -> dict[str, Any]:
    """Return the caller's account (read-only). Raises Unauthenticated when the
    account no longer exists, so a credential outliving it grants nothing."""
    item = table.get(f"ACCOUNT#{principal.account_id}", "ACCOUNT")
    if item is None:
        raise Unauthenticated("unauthenticated", "The credential is not valid.")
    return account_view(item)


def create_api_key(
    table: Table, principal: Principal, name: str, now: datetime
) -> tuple[dict[str, str], str]:
    """A new API key; returns (its description, the key itself — shown once).

    Only a session (email + password) may mint keys: a leaked API key must not
    be able to mint its own replacement and outlive its revocation.
    """
    if principal.kind is not Kind.SESSION:
        raise Forbidden(
            "session_required", "Sign in with email and password to create API keys."
        )
    name = name.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME_LENGTH or not name.isprintable():
        raise BadRequest(
            "invalid_request",
            f"An API key name is 1 to {MAX_KEY_NAME_LENGTH} printable characters.",
        )
    credential = credentials.mint(Kind.API_KEY, principal.account_id)
    item = {
        "pk": f"ACCOUNT#{principal.account_id}",
        "sk": f"APIKEY#{credential.credential_id}",
        "digest": credential.digest,
        "name": name,
        "created_at": rfc3339(now),
    }
    table.put_new(item)
    return _api_key_view(item), credential.value


def list_api_keys(table: Table, principal: Principal) -> list[dict[str, str]]:
    """Return the caller's API keys (id, name, created_at) in id order, empty if
    none; read-only. The keys themselves are never stored, so never shown."""
    items = table.query_prefix(f"ACCOUNT#{principal.account_id}", "APIKEY#")
    return [_api_key_view(item) for item in items]


def revoke_api_key(table: Table, principal: Principal, key_id: str) -> None:
    """Delete one of the caller's API keys; NotFound if it is not theirs."""
    if not credentials.is_credential_id(key_id):
        raise NotFound("api_key_not_found", "No API key with that id.")
    try:
        table.delete(
            f"ACCOUNT#{principal.account_id}",
            f"APIKEY#{key_id}",
            condition=Attr("pk").exists(),
        )
    except ConditionFailed:
        raise NotFound("api_key_not_found", "No API key with that id.") from None


def _api_key_view(item: Item) -> dict[str, str]:
    return {
        "id": item["sk"].removeprefix("APIKEY#"),
        "name": item["name"],
        "created_at": item["created_at"],
    }
