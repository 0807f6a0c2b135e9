"""Accounts, sessions and API keys over the real HTTPS API."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest

from chalicelib import accounts
from chalicelib.credentials import Kind
from chalicelib.errors import Conflict, Unauthenticated
from chalicelib.storage import Table
from tests.support.api import client, sign_up, strong_password


@pytest.fixture
def http(stack) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with client(stack.api_url, stack.root_ca) as session:
        yield session


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


def test_sign_up_returns_account_and_session_and_normalizes_email(http):
    password = strong_password()
    response = http.post(
        "/v1/accounts", json={"email": "  Someone@Example.TEST ", "password": password}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["account"]["email"] == "someone@example.test"
    assert body["session"]["token"].startswith("cms_")
    again = http.post(
        "/v1/accounts", json={"email": "someone@example.test", "password": password}
    )
    assert again.status_code == 409 and error_code(again) == "email_taken"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short1!", "invalid_password"),
        ("x" * 1025, "invalid_password"),
        ("password123", "weak_password"),
        ("qwertyuiop", "weak_password"),
    ],
)
def test_sign_up_refuses_bad_passwords_and_stores_nothing(http, stack, password, code):
    email = f"{code}-{len(password)}@example.test"
    response = http.post("/v1/accounts", json={"email": email, "password": password})
    assert response.status_code == 400
    assert error_code(response) == code
    assert response.json()["error"]["message"].endswith(".")
    assert Table(stack.settings).get(f"EMAIL#{email}", "EMAIL") is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"email": "not-an-email", "password": "Long enough pass 42!"},
            "invalid_email",
        ),
        ({"email": "a@example.test"}, "invalid_request"),
        ({"email": 5, "password": "x"}, "invalid_request"),
        (
            {"email": "a@b.test", "password": "Cm-abcdefghijklm", "x": 1},
            "invalid_request",
        ),
        ([1, 2], "invalid_json"),
    ],
)
def test_sign_up_refuses_malformed_bodies(http, body, code):
    response = http.post("/v1/accounts", json=body)
    assert response.status_code == 400
    assert error_code(response) == code


def test_malformed_json_and_wrong_media_type(http):
    response = http.post(
        "/v1/accounts", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_json")
    response = http.post(
        "/v1/accounts", content=b"email=a", headers={"Content-Type": "text/plain"}
    )
    assert (response.status_code, error_code(response)) == (
        415,
        "unsupported_media_type",
    )


def test_sign_in_and_sign_out(http):
    account = sign_up(http)
    wrong = http.post(
        "/v1/sessions",
        json={"email": account.email, "password": account.password + "x"},
    )
    assert (wrong.status_code, error_code(wrong)) == (401, "invalid_credentials")
    unknown = http.post(
        "/v1/sessions", json={"email": "nobody@example.test", "password": "whatever12"}
    )
    assert (unknown.status_code, error_code(unknown)) == (401, "invalid_credentials")
    assert unknown.json() == wrong.json()

    signed_in = http.post(
        "/v1/sessions",
        json={"email": account.email.upper(), "password": account.password},
    )
    assert signed_in.status_code == 201
    token = signed_in.json()["session"]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get("/v1/account", headers=auth).json()["account"]["id"] == account.id
    assert http.delete("/v1/sessions/current", headers=auth).status_code == 204
    after = http.get("/v1/account", headers=auth)
    assert (after.status_code, error_code(after)) == (401, "unauthenticated")


def test_api_key_cannot_sign_out(http):
    account = sign_up(http)
    response = account.call("DELETE", "/v1/sessions/current")
    assert (response.status_code, error_code(response)) == (403, "session_required")


def test_api_keys_are_listed_without_secrets_and_revocation_is_immediate(http, stack):
    account = sign_up(http)
    created = http.post(
        "/v1/api-keys",
        json={"name": "agent on web1"},
        headers={"Authorization": f"Bearer {account.session}"},
    )
    assert created.status_code == 201
    key = created.json()["key"]
    key_id = created.json()["api_key"]["id"]
    assert key.startswith("cmk_")

    listed = account.call("GET", "/v1/api-keys").json()["api_keys"]
    assert {k["name"] for k in listed} == {"tests", "agent on web1"}
    assert key not in str(listed)
    stored = Table(stack.settings).get(f"ACCOUNT#{account.id}", f"APIKEY#{key_id}")
    assert stored is not None and key not in str(stored)

    auth = {"Authorization": f"Bearer {key}"}
    assert http.get("/v1/account", headers=auth).status_code == 200
    assert account.call("DELETE", f"/v1/api-keys/{key_id}").status_code == 204
    assert http.get("/v1/account", headers=auth).status_code == 401
    gone = account.call("DELETE", f"/v1/api-keys/{key_id}")
    assert (gone.status_code, error_code(gone)) == (404, "api_key_not_found")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic abc",
        "Bearer",
        "Bearer cmk_short",
        "Bearer cmk_aaaaaaaaaaaaaaaaaaaa_bbbbbbbbbbbb_" + "A" * 43,
    ],
)
def test_requests_without_a_valid_credential_are_refused(http, header):
    headers = {"Authorization": header} if header else {}
    response = http.get("/v1/certificates", headers=headers)
    assert (response.status_code, error_code(response)) == (401, "unauthenticated")


def test_tampered_api_key_is_refused(http):
    account = sign_up(http)
    tampered = account.api_key[:-1] + ("A" if account.api_key[-1] != "A" else "B")
    response = http.get("/v1/account", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


def test_every_response_carries_security_headers(http):
    for response in (
        http.get("/v1/health"),
        http.get("/v1/certificates"),
        http.post("/v1/accounts", json={}),
        http.get("/v1/no-such-route"),
    ):
        assert response.headers["strict-transport-security"] == (
            "max-age=63072000; includeSubDomains; preload"
        ), response.url
        assert response.headers["x-content-type-options"] == "nosniff"
    assert http.get("/v1/certificates").headers["cache-control"] == "no-store"


def test_cors_allows_only_the_console_origin(http, stack):
    allowed = stack.console_url.rstrip("/")
    response = http.get("/v1/health", headers={"Origin": allowed})
    assert response.headers.get("access-control-allow-origin") == allowed
    assert response.headers.get("access-control-allow-origin") != "*"


def test_only_a_session_can_mint_api_keys(http):
    account = sign_up(http)
    response = account.call("POST", "/v1/api-keys", json={"name": "replacement"})
    assert (response.status_code, error_code(response)) == (403, "session_required")
    assert len(account.call("GET", "/v1/api-keys").json()["api_keys"]) == 1


def test_long_passphrases_up_to_1024_characters_are_accepted(http):
    for length in (73, 200, 1024):
        password = (strong_password() * 60)[:length]
        response = http.post(
            "/v1/accounts",
            json={"email": f"long-{length}@example.test", "password": password},
        )
        assert response.status_code == 201, (length, response.text)
        signed_in = http.post(
            "/v1/sessions",
            json={"email": f"long-{length}@example.test", "password": password},
        )
        assert signed_in.status_code == 201


def test_a_lone_surrogate_is_refused_not_a_crash(http):
    account = sign_up(http)
    body = '{"email": "%s", "password": "abcdefgh\\ud800xyz"}'
    signup = http.post(
        "/v1/accounts",
        content=(body % "surrogate@example.test").encode(),
        headers={"Content-Type": "application/json"},
    )
    assert (signup.status_code, error_code(signup)) == (400, "invalid_password")
    for email in (account.email, "nobody@example.test"):
        signin = http.post(
            "/v1/sessions",
            content=(body % email).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert (signin.status_code, error_code(signin)) == (401, "invalid_credentials")


def test_deeply_nested_json_is_invalid_json_not_a_crash(http):
    body = b'{"email":' + b"[" * 3000 + b"]" * 3000 + b"}"
    response = http.post(
        "/v1/accounts", content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_json")


def test_scheme_is_case_insensitive(http):
    account = sign_up(http)
    response = http.get(
        "/v1/account", headers={"Authorization": f"bearer {account.api_key}"}
    )
    assert response.status_code == 200


def test_overlong_api_key_id_is_not_found(http):
    account = sign_up(http)
    response = account.call("DELETE", "/v1/api-keys/" + "z" * 3000)
    assert (response.status_code, error_code(response)) == (404, "api_key_not_found")


def test_session_tokens_are_stored_only_as_digests(http, stack):
    account = sign_up(http)
    signed_in = http.post(
        "/v1/sessions", json={"email": account.email, "password": account.password}
    )
    token = signed_in.json()["session"]["token"]
    table = Table(stack.settings)
    items = list(table.query_prefix(f"ACCOUNT#{account.id}", ""))
    assert len([i for i in items if i["sk"].startswith("SESSION#")]) == 2
    for secret in (token, account.session, account.password):
        assert secret not in str(items)


def test_a_session_is_refused_from_the_moment_it_expires(stack):
    table = Table(stack.settings)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    email = f"expiry-{secrets.token_hex(6)}@example.test"
    password = strong_password()
    accounts.sign_up(table, stack.settings, email, password, now)
    _, session = accounts.sign_in(table, stack.settings, email, password, now)
    header = f"Bearer {session['token']}"
    lifetime = timedelta(seconds=stack.settings.session_lifetime_seconds)

    last_second = now + lifetime - timedelta(seconds=1)
    assert accounts.authenticate(table, header, last_second).kind is Kind.SESSION
    with pytest.raises(Unauthenticated, match="expired"):
        accounts.authenticate(table, header, now + lifetime)


def test_a_refused_duplicate_sign_up_leaves_one_account_item(stack):
    table = Table(stack.settings)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    email = f"twice-{secrets.token_hex(6)}@example.test"
    accounts.sign_up(table, stack.settings, email, strong_password(), now)
    with pytest.raises(Conflict):
        accounts.sign_up(table, stack.settings, email, strong_password(), now)

    # A test may Scan its own small table; the API never does.
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.settings.dynamodb_endpoint,
        region_name=stack.settings.region,
    )
    pages = client.get_paginator("scan").paginate(
        TableName=stack.settings.table_name,
        FilterExpression="sk = :account AND email = :email",
        ExpressionAttributeValues={
            ":account": {"S": "ACCOUNT"},
            ":email": {"S": email},
        },
    )
    assert sum(len(page["Items"]) for page in pages) == 1
