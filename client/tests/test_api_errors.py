"""How the client reads the server's error documents."""

from __future__ import annotations

import json

import pytest

from certmint.api import _interpret
from certmint.errors import ApiError


def test_error_document_becomes_an_api_error_with_code_and_status() -> None:
    body = json.dumps({"error": {"code": "invalid_name", "message": "Bad name."}})

    with pytest.raises(ApiError) as caught:
        _interpret(400, body.encode(), None)

    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "invalid_name",
        "Bad name.",
        400,
    )


def test_server_text_cannot_drive_the_terminal() -> None:
    hostile = "retitled\x1b]0;pwned\x07\nerror: fake line\r" + "x" * 5000
    body = json.dumps({"error": {"code": "x\x1b[2J", "message": hostile}})

    with pytest.raises(ApiError) as caught:
        _interpret(400, body.encode(), None)

    text = caught.value.user_message()
    assert not any(ch in text for ch in "\x1b\x07\n\r")
    assert len(text) < 600
