"""Waiting for issuance and the exit code of multi-name downloads, offline."""

from __future__ import annotations

import pytest

from certmint.api import ApiClient
from certmint.cli import _download_exit_code
from certmint.errors import IssuanceFailed, NotDownloaded
from certmint.issuance import DownloadResult, wait_until_issued

CHANGED, CURRENT = DownloadResult.CHANGED, DownloadResult.CURRENT


def _unused_api() -> ApiClient:
    # Never contacted: each case below ends before the first poll.
    return ApiClient("https://127.0.0.1:9", api_key=None, ca_bundle=None)


def _never_sleep(seconds: float) -> None:
    raise AssertionError("slept")


def test_issued_instance_is_returned_without_polling() -> None:
    instance = {"id": "i1", "state": "issued"}

    result = wait_until_issued(
        _unused_api(),
        "a.example.test",
        instance,
        timeout=600,
        clock=lambda: 0.0,
        sleep=_never_sleep,
    )

    assert result is instance


def test_pending_instance_with_no_time_left_ends_with_exit_12() -> None:
    with pytest.raises(
        NotDownloaded, match=r"run certmint download a\.example\.test later"
    ) as caught:
        wait_until_issued(
            _unused_api(),
            "a.example.test",
            {"id": "i1", "state": "pending"},
            timeout=0,
            clock=lambda: 0.0,
            sleep=_never_sleep,
        )

    assert caught.value.exit_code == 12


@pytest.mark.parametrize("state", ["failed", "revoked"])
def test_failed_or_revoked_instance_is_an_error(state: str) -> None:
    with pytest.raises(IssuanceFailed, match=f"ended {state}"):
        wait_until_issued(
            _unused_api(),
            "a.example.test",
            {"id": "i1", "state": state},
            timeout=600,
            clock=lambda: 0.0,
            sleep=_never_sleep,
        )


@pytest.mark.parametrize(
    ("results", "failures", "expected"),
    [
        ([CHANGED], [], 0),
        ([CHANGED, CURRENT], [], 0),
        ([CURRENT, CURRENT], [], 10),
        ([CHANGED], [1], 0),
        ([CURRENT], [12], 12),
        ([CHANGED], [12, 1], 0),
        ([CURRENT], [12, 1], 1),
        ([], [1, 13, 12], 13),
        ([], [], 10),
    ],
)
def test_download_exit_code_prefers_changes_then_failures(
    results: list[DownloadResult], failures: list[int], expected: int
) -> None:
    assert _download_exit_code(results, failures) == expected
