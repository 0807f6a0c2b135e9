"""Fixtures shared by the server-side tests.

Importing this module points boto3, for the whole test session, at dummy
credentials (``AWS_ACCESS_KEY_ID=local``), ``us-east-1``, no shared config
files and no instance metadata service, so that no test can reach AWS or
169.254.169.254 with a developer's real profile.

Session-scoped fixtures:

``stack`` -> :class:`support.stack.LocalStack`
    A real local stack, ``python -m devstack run``, started once for the
    session on free ports of 127.0.0.1 with a temporary ``CERTMINT_HOME``,
    table ``certmint-test`` and ``CERTMINT_PBKDF2_ITERATIONS=1000``; stopped
    by PID at the end (SIGTERM, then SIGKILL), after which its dynalite must
    be gone too. Attributes:

    - ``api_url`` (str): ``https://localhost:<port>``, no trailing slash;
    - ``console_url`` (str): ``https://localhost:<port>``;
    - ``home`` (Path): the stack's ``CERTMINT_HOME`` (``ca/``, ``db/``, ``tls/``);
    - ``root_ca`` (Path): ``home/ca/root.pem``, the only trust anchor to use;
    - ``dynamodb_endpoint`` (str): ``http://127.0.0.1:<port>`` (dynalite);
    - ``log_path`` (Path): the stack's stdout and stderr; ``log_text()`` reads it;
    - ``requests_path`` (Path): every raw request the API received (request
      line, headers, raw body; see ``devstack.api.RequestRecorder``);
      ``recorded_requests()`` returns its bytes;
    - ``env`` (dict[str, str]): a complete environment for a CLI subprocess:
      the caller's environment without any ``CERTMINT_*``, plus
      ``CERTMINT_API_URL``, ``CERTMINT_CA_BUNDLE`` (= ``root_ca``) and HOME /
      ``XDG_CONFIG_HOME`` / ``XDG_DATA_HOME`` / ``XDG_STATE_HOME`` /
      ``XDG_CACHE_HOME`` in a temporary directory (one, shared by the session:
      tests that need a clean config should set their own HOME on a copy);
    - ``settings`` (``chalicelib.config.Settings``): the stack's table,
      endpoint and CA directory, for ``chalicelib.storage.Table(settings)``;
    - ``pid`` / ``dynalite_pid`` (int), ``api_port`` / ``console_port`` /
      ``dynamo_port`` (int).

``api`` -> ``api(token=None, **httpx_options) -> httpx.Client``
    A factory of clients with ``base_url=stack.api_url``, verifying the
    server against ``stack.root_ca`` only (never ``verify=False``), a 30 s
    timeout, and ``Authorization: Bearer <token>`` when ``token`` is given.
    Other keyword arguments go to ``httpx.Client``. Clients are closed at the
    end of the session.

``umask_000`` (function scope, from the root conftest.py)
    Sets the process umask to 000 for one test and restores it afterwards,
    for tests showing that a file's mode does not depend on the umask.

``start_stack`` (function, from ``support.stack``) starts further stacks for
tests that must restart or kill one; such a test stops its stack itself.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from support.stack import LocalStack, process_is_gone, start_stack

os.environ.update(
    AWS_ACCESS_KEY_ID="local",
    AWS_SECRET_ACCESS_KEY="local",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(tmp_path_factory.mktemp("stack") / "home")
    try:
        yield running
    finally:
        running.stop()
    assert process_is_gone(running.dynalite_pid), "dynalite outlived the stack"


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[Callable[..., httpx.Client]]:
    context = ssl.create_default_context(cafile=str(stack.root_ca))
    clients: list[httpx.Client] = []

    def make(token: str | None = None, **options: Any) -> httpx.Client:
        headers = dict(options.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        options.setdefault("timeout", 30.0)
        client = httpx.Client(
            base_url=stack.api_url, verify=context, headers=headers, **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
