"""Helpers shared by the server-side tests (see tests/conftest.py)."""
