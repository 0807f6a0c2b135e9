"""Invariant 6, checked where it can slip: the server never Scans and never
uses transactions, in code or in what the deployed Lambda is allowed to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
SERVER_SOURCES = [ROOT / "app.py", *sorted((ROOT / "chalicelib").glob("*.py"))]
ALLOWED = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
}


def test_server_code_never_scans_or_uses_transactions():
    forbidden = re.compile(r"\.(scan|transact_write_items|transact_get_items)\(")
    offenders = [
        f"{path.name}:{number}"
        for path in SERVER_SOURCES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []


def test_the_lambda_policy_allows_only_the_six_operations():
    policy = json.loads((ROOT / ".chalice" / "policy-dev.json").read_text())
    granted = {
        action
        for statement in policy["Statement"]
        for action in statement["Action"]
        if action.startswith("dynamodb:")
    }
    assert granted == ALLOWED
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"]["dev"]["autogen_policy"] is False
