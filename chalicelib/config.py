"""Settings, read once per call from the environment.

Every setting has a production-safe default; the local stack (devstack/) and
the tests set the rest. Nothing here is a secret: secrets never travel in
environment variables of ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# CA/Browser Forum ballot SC-081 caps TLS certificate validity: 200 days from
# 2026-03-15, 100 days from 2027-03-15, 47 days from 2029-03-15. We stay one
# day under each cap so that clock skew between us and a relying party never
# makes a certificate look over the limit.
LIFETIME_SCHEDULE: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 46),
    (datetime(2027, 3, 15, tzinfo=UTC), 99),
    (datetime(2026, 3, 15, tzinfo=UTC), 199),
)
LIFETIME_BEFORE_SC081_DAYS = 397

# OWASP's 2023 password storage guidance for PBKDF2-HMAC-SHA256.
DEFAULT_PBKDF2_ITERATIONS = 600_000


def max_lifetime_days(now: datetime) -> int:
    """The longest validity, in days, SC-081 allows for a certificate issued now."""
    for start, days in LIFETIME_SCHEDULE:
        if now >= start:
            return days
    return LIFETIME_BEFORE_SC081_DAYS


@dataclass(frozen=True)
class Settings:
    table_name: str
    dynamodb_endpoint: str | None
    region: str
    ca_directory: Path
    public_url: str
    console_origin: str
    pbkdf2_iterations: int
    certificate_lifetime_days: int | None
    session_lifetime_seconds: int

    def lifetime_days(self, now: datetime) -> int:
        """Configured lifetime, never longer than SC-081 allows at ``now``."""
        cap = max_lifetime_days(now)
        if self.certificate_lifetime_days is None:
            return cap
        return min(self.certificate_lifetime_days, cap)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def _positive(days: int) -> int:
    if days < 1:
        raise ValueError(f"CERTMINT_CERT_LIFETIME_DAYS must be at least 1, not {days}")
    return days


def load() -> Settings:
    """Read the settings from the environment (cheap; call per request)."""
    lifetime = os.environ.get("CERTMINT_CERT_LIFETIME_DAYS")
    home = Path(os.environ.get("CERTMINT_HOME", ".certmint"))
    return Settings(
        table_name=os.environ.get("CERTMINT_TABLE", "certmint"),
        dynamodb_endpoint=os.environ.get("CERTMINT_DYNAMODB_ENDPOINT") or None,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        ca_directory=Path(os.environ.get("CERTMINT_CA_DIR", str(home / "ca"))),
        public_url=os.environ.get(
            "CERTMINT_PUBLIC_URL", "https://localhost:8444"
        ).rstrip("/"),
        console_origin=os.environ.get(
            "CERTMINT_CONSOLE_ORIGIN", "https://localhost:8443"
        ),
        pbkdf2_iterations=_int("CERTMINT_PBKDF2_ITERATIONS", DEFAULT_PBKDF2_ITERATIONS),
        certificate_lifetime_days=_positive(int(lifetime)) if lifetime else None,
        session_lifetime_seconds=_int("CERTMINT_SESSION_SECONDS", 12 * 3600),
    )
