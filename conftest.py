"""Fixtures shared by both test trees (tests/ for the server, client/tests/)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def umask_000() -> Iterator[None]:
    """Run the test with umask 000, the case in which other tools leaked keys."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)
