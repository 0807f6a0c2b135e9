"""Bearer credentials: API keys (``cmk_``) and session tokens (``cms_``).

A credential reads ``<prefix>_<account id>_<credential id>_<secret>``. The
prefix lets secret scanners recognise a leaked one; the two ids locate the
stored item with one strongly consistent GetItem inside the owner's partition;
the secret is 256 bits from ``secrets``. Only the SHA-256 of the whole
credential is stored, and it is compared in constant time. A fast hash is
right here (unlike passwords): the secret has full entropy, so there is
nothing for a slow hash to protect against.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

from chalicelib.errors import Unauthenticated


class Kind(Enum):
    API_KEY = "cmk"
    SESSION = "cms"


# Lowercase base32 ids: no underscore, so the credential splits unambiguously.
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ACCOUNT_ID_LENGTH = 20  # 100 bits: unguessable, so ids can appear in URLs
CREDENTIAL_ID_LENGTH = 12
SECRET_BYTES = 32
_SHAPE = re.compile(r"^(cmk|cms)_([a-z2-7]{20})_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")


def new_id(length: int) -> str:
    """A random identifier of ``length`` base32 characters."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class Credential:
    """A parsed credential. ``repr`` never shows the secret."""

    kind: Kind
    account_id: str
    credential_id: str
    _value: str

    def __repr__(self) -> str:
        return (
            f"Credential(kind={self.kind.name}, account_id={self.account_id!r}, "
            f"credential_id={self.credential_id!r}, secret=<hidden>)"
        )

    @property
    def value(self) -> str:
        return self._value

    @property
    def digest(self) -> str:
        return digest(self._value)


def mint(kind: Kind, account_id: str) -> Credential:
    """A new credential for ``account_id``; the caller stores only ``.digest``."""
    credential_id = new_id(CREDENTIAL_ID_LENGTH)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    value = f"{kind.value}_{account_id}_{credential_id}_{secret}"
    return Credential(kind, account_id, credential_id, value)


def parse(value: str) -> Credential:
    """Split a presented credential; raises Unauthenticated when malformed."""
    match = _SHAPE.fullmatch(value)
    if match is None:
        raise Unauthenticated("unauthenticated", "The credential is malformed.")
    prefix, account_id, credential_id, _ = match.groups()
    return Credential(Kind(prefix), account_id, credential_id, value)


def is_credential_id(text: str) -> bool:
    """Whether ``text`` has the shape of a credential id (checked before any lookup)."""
    return len(text) == CREDENTIAL_ID_LENGTH and all(ch in _ID_ALPHABET for ch in text)


def digest(value: str) -> str:
    """Return the hex SHA-256 of a whole credential, the only form stored.

    Pure. Raises UnicodeEncodeError for non-ASCII text, which no minted or
    parsed credential holds.
    """
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def require_digest(presented: Credential, stored_digest: str) -> None:
    """Raise Unauthenticated unless the digests match (constant-time compare)."""
    if not hmac.compare_digest(presented.digest, stored_digest):
        raise Unauthenticated("unauthenticated", "The credential is not valid.")
