"""Time, injectable: domain functions take ``now`` instead of reading the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime; the default Clock."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``2026-12-04T15:19:50Z``: second precision, UTC, as the API shows times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Return the aware UTC datetime of ``text`` in exactly the form
    :func:`rfc3339` writes; raises ValueError for any other form."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
