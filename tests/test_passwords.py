"""Password hashing policy: PBKDF2-HMAC-SHA256, 600,000 rounds, upgrades on login."""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from datetime import UTC, datetime

import pytest

from chalicelib import accounts, config, passwords
from chalicelib.errors import BadRequest, Unauthenticated
from chalicelib.passwords import PasswordHash
from chalicelib.storage import Table

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_default_policy_is_600000_iterations_with_a_16_byte_salt():
    saved = os.environ.pop("CERTMINT_PBKDF2_ITERATIONS", None)
    try:
        iterations = config.load().pbkdf2_iterations
    finally:
        if saved is not None:
            os.environ["CERTMINT_PBKDF2_ITERATIONS"] = saved
    assert iterations == 600_000
    stored = PasswordHash.decode(
        passwords.hash_password("Cm-correct-horse", iterations)
    )
    assert stored.iterations == 600_000
    assert len(stored.salt) == 16
    assert len(stored.digest) == 32


def test_stored_form_is_self_describing_and_salted():
    first = passwords.hash_password("same password here", 1000)
    second = passwords.hash_password("same password here", 1000)
    assert first.startswith("pbkdf2_sha256$1000$")
    assert first != second
    passwords.verify_password("same password here", first)
    with pytest.raises(passwords.WrongPassword):
        passwords.verify_password("same password herE", first)


def test_a_25000_round_hash_is_weaker_than_policy():
    old = passwords.hash_password("Cm-old-hash-secret", 25_000)
    assert passwords.needs_rehash(old, 600_000)
    assert not passwords.needs_rehash(old, 25_000)


@pytest.mark.parametrize(
    ("password", "code", "hint"),
    [
        ("seven77", "invalid_password", "8 to 1024"),
        ("a" * 1025, "invalid_password", "8 to 1024"),
        ("password1", "weak_password", "too easy to guess"),
        ("iloveyou2", "weak_password", "too easy to guess"),
        ("user@example.test", "weak_password", "too easy to guess"),
    ],
)
def test_policy_refuses_with_a_helpful_message(password, code, hint):
    with pytest.raises(BadRequest, match=hint) as caught:
        passwords.check_policy(password, user_inputs=("user@example.test", "user"))
    assert caught.value.code == code


def test_policy_accepts_a_long_random_passphrase():
    passwords.check_policy("Cm-" + secrets.token_urlsafe(16))


@pytest.fixture
def policy_settings(stack):  # type: ignore[no-untyped-def]
    """The stack's table with the real 600,000-round policy (not the test speed-up)."""
    return dataclasses.replace(stack.settings, pbkdf2_iterations=600_000)


def _account_with_hash(table: Table, iterations: int) -> tuple[str, str, str]:
    account_id = secrets.token_hex(10)
    email = f"legacy-{account_id}@example.test"
    password = "Cm-" + secrets.token_urlsafe(12)
    table.put_new(
        {
            "pk": f"ACCOUNT#{account_id}",
            "sk": "ACCOUNT",
            "email": email,
            "password_hash": passwords.hash_password(password, iterations),
            "created_at": "2020-01-01T00:00:00Z",
        }
    )
    table.put_new({"pk": f"EMAIL#{email}", "sk": "EMAIL", "account_id": account_id})
    return account_id, email, password


def test_a_25000_round_hash_is_upgraded_on_the_next_login(policy_settings):
    table = Table(policy_settings)
    account_id, email, password = _account_with_hash(table, 25_000)

    with pytest.raises(Unauthenticated):
        accounts.sign_in(table, policy_settings, email, password + "!", NOW)
    unchanged = table.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    assert unchanged is not None
    assert PasswordHash.decode(unchanged["password_hash"]).iterations == 25_000

    accounts.sign_in(table, policy_settings, email, password, NOW)
    upgraded = table.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    assert upgraded is not None
    assert PasswordHash.decode(upgraded["password_hash"]).iterations == 600_000
    accounts.sign_in(table, policy_settings, email, password, NOW)


def _refusal_seconds(settings, email: str, password: str) -> float:  # type: ignore[no-untyped-def]
    """The fastest of two refused sign-ins with a wrong password."""

    def once() -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthenticated):
            accounts.sign_in(Table(settings), settings, email, password + "x", NOW)
        return time.perf_counter() - started

    return min(once() for _ in range(2))


def test_unknown_email_costs_the_same_pbkdf2_work(policy_settings):
    _, email, password = _account_with_hash(Table(policy_settings), 600_000)

    known = _refusal_seconds(policy_settings, email, password)
    unknown = _refusal_seconds(policy_settings, "nobody-" + email, password)
    # Both run one 600,000-round PBKDF2 (~0.2-1 s); without the dummy
    # verification the unknown email would answer in a few milliseconds.
    assert unknown > 0.5 * known
    assert known > 0.5 * unknown


def test_a_wrong_password_for_an_old_hash_costs_the_full_policy_work(policy_settings):
    _, old_email, password = _account_with_hash(Table(policy_settings), 25_000)

    old = _refusal_seconds(policy_settings, old_email, password)
    unknown = _refusal_seconds(policy_settings, "nobody-" + old_email, password)
    # 25,000 rounds alone would take about 1/24 of the unknown email's time.
    assert old > 0.5 * unknown
