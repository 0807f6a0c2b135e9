"""The published OpenAPI document and the routes stay in step."""

from __future__ import annotations

import json
from pathlib import Path

import app as app_module
from app import app

SPEC = json.loads(
    (Path(__file__).parents[1] / "chalicelib" / "openapi.json").read_text()
)
METHODS = {"get", "put", "post", "patch", "delete"}


def test_spec_is_openapi_3_1():
    assert SPEC["openapi"].startswith("3.1.")


def test_every_route_is_in_the_spec_and_every_spec_path_is_a_route():
    routes = {
        (path, method.lower())
        for path, methods in app.routes.items()
        for method in methods
        if method != "OPTIONS"
    }
    documented = {
        (path, method)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in METHODS
    }
    assert routes == documented


def test_every_error_code_in_the_spec_is_listed_in_the_api_docs():
    docs = (Path(__file__).parents[1] / "docs" / "api.md").read_text()
    codes = set()
    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = SPEC["components"]["responses"][
                        response["$ref"].rsplit("/", 1)[1]
                    ]
                if status == "default" or int(status) >= 400:
                    codes.update(response["description"].split("`")[1::2])
    assert {"certificate_not_found", "method_not_allowed"} <= codes
    for code in codes:
        assert f"| `{code}` |" in docs, code


def test_the_local_gateway_and_the_app_share_one_body_limit():
    from devstack import api as gateway

    assert gateway.MAX_BODY_BYTES == app_module.MAX_BODY_BYTES


def test_the_api_serves_the_same_document(stack, api):
    served = api().get("/v1/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == SPEC


def test_every_operation_documents_its_errors():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert "default" in operation["responses"], (method, path)
