"""Password policy and hashing.

Hashes are PBKDF2-HMAC-SHA256 from ``hashlib``, stored as one self-describing
string ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>`` so that the cost
can rise over time: a hash with fewer iterations than the current policy is
re-hashed on the next successful sign-in (see accounts.sign_in).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from zxcvbn import zxcvbn

from chalicelib.errors import BadRequest

ALGORITHM = "pbkdf2_sha256"
SALT_BYTES = 16  # NIST SP 800-132 asks for at least 128 bits of salt.
MIN_LENGTH = 8  # NIST SP 800-63B §5.1.1.2
MAX_LENGTH = 1024  # bounds the work one request can make us do
MIN_ZXCVBN_SCORE = 3  # "safely unguessable: moderate protection from offline attack"
# zxcvbn 4.5 refuses inputs over 72 characters (its matching grows fast with
# length); a password that long is judged by its first 72, which is plenty.
ZXCVBN_MAX_CHARS = 72


@dataclass(frozen=True)
class PasswordHash:
    iterations: int
    salt: bytes
    digest: bytes

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        return f"{ALGORITHM}${self.iterations}${salt}${digest}"

    @classmethod
    def decode(cls, encoded: str) -> PasswordHash:
        """Parse a stored hash; raises ValueError on anything not ours."""
        algorithm, iterations, salt, digest = encoded.split("$")
        if algorithm != ALGORITHM:
            raise ValueError(f"unknown password hash algorithm {algorithm!r}")
        return cls(int(iterations), base64.b64decode(salt), base64.b64decode(digest))


def check_policy(password: str, user_inputs: tuple[str, ...] = ()) -> None:
    """Refuse passwords that are too short, too long or guessable.

    Raises BadRequest (``invalid_password`` or ``weak_password``) with a message
    that helps the user choose better; returns None when the password is fine.
    """
    if not password.isprintable() and any(
        0xD800 <= ord(ch) <= 0xDFFF for ch in password
    ):
        raise BadRequest(
            "invalid_password", "Passwords must be text without lone surrogates."
        )
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(
            "invalid_password",
            f"Passwords must be {MIN_LENGTH} to {MAX_LENGTH} characters long.",
        )
    verdict = zxcvbn(password[:ZXCVBN_MAX_CHARS], user_inputs=list(user_inputs))
    if verdict["score"] < MIN_ZXCVBN_SCORE:
        feedback = verdict.get("feedback", {})
        hints = [feedback.get("warning") or "", *list(feedback.get("suggestions", []))]
        advice = " ".join(hint for hint in hints if hint)
        raise BadRequest(
            "weak_password",
            "This password is too easy to guess. "
            + (advice or "Add a few more uncommon words."),
        )


def hash_password(password: str, iterations: int) -> str:
    """A fresh salted hash of ``password`` in the stored string form."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, iterations)
    return PasswordHash(iterations, salt, digest).encode()


class WrongPassword(Exception):
    """The password does not match the stored hash."""


def verify_password(password: str, encoded: str) -> None:
    """Return when ``password`` matches the stored hash; raise WrongPassword if not.

    The digests are compared in constant time.
    """
    stored = PasswordHash.decode(encoded)
    candidate = _derive(password, stored.salt, stored.iterations)
    if not hmac.compare_digest(candidate, stored.digest):
        raise WrongPassword()


def iterations_of(encoded: str) -> int:
    """The PBKDF2 iteration count a stored hash was made with."""
    return PasswordHash.decode(encoded).iterations


def needs_rehash(encoded: str, iterations: int) -> bool:
    """True when the stored hash is weaker than the current policy."""
    return PasswordHash.decode(encoded).iterations < iterations


def dummy_hash(iterations: int) -> str:
    """A hash to verify against when the email is unknown.

    Verifying an unknown email costs the same PBKDF2 work as a known one, so
    response time does not reveal which emails have accounts.
    """
    return PasswordHash(iterations, b"\0" * SALT_BYTES, b"\0" * 32).encode()


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    # surrogatepass: a JSON string may carry a lone surrogate; sign-in must
    # answer "wrong password" for it, not fail to encode.
    secret = password.encode("utf-8", errors="surrogatepass")
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
