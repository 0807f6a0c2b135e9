"""The app sets its own security headers: in AWS there is no local gateway
to add them (the gateway's own additions are tested in test_devstack.py)."""

from __future__ import annotations

from chalice.test import Client

from app import app


def test_the_app_itself_sets_hsts_nosniff_and_no_store():
    with Client(app) as client:
        response = client.http.get("/v1/health")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == (
        "max-age=63072000; includeSubDomains; preload"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_app_answers_an_unsupported_method_in_its_error_shape():
    with Client(app) as client:
        response = client.http.put("/v1/health")

    assert response.status_code == 405
    assert response.json_body["error"]["code"] == "method_not_allowed"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
