"""The whole CLI journey against the real stack, and the promise that no
private key ever reaches the API, DynamoDB or a log line."""

from __future__ import annotations

import grp
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.api import key_secrets, strong_password
from tests.support.cli import CLI, run

NAME = "www.example.test"


def spki_of_key(path: Path) -> bytes:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_of_cert(path: Path) -> bytes:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def openssl_verify(root: Path, chain: Path, leaf: Path) -> None:
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(root),
            "-untrusted",
            str(chain),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dump_table(stack) -> bytes:  # type: ignore[no-untyped-def]
    """Every item in the table (a test may Scan; the API never does)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.settings.dynamodb_endpoint,
        region_name=stack.settings.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items = []
    for page in client.get_paginator("scan").paginate(
        TableName=stack.settings.table_name
    ):
        items.extend(page["Items"])
    return b"\n".join(_flatten(item) for item in items)


def _flatten(value: object) -> bytes:
    """Every string and binary value of an item, as searchable bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict):
        return b"\n".join(_flatten(k) + b"=" + _flatten(v) for k, v in value.items())
    if isinstance(value, list):
        return b"\n".join(_flatten(v) for v in value)
    return str(value).encode()


@pytest.fixture
def user(stack, tmp_path):  # type: ignore[no-untyped-def]
    """A fresh config home and working directory, signed up through the CLI."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**stack.env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    work = tmp_path / "certs"
    work.mkdir()
    password = strong_password()
    email = f"journey-{os.getpid()}-{tmp_path.name}@example.test"
    result = run(
        env, work, "signup", "--email", email, "--password-stdin", stdin=password + "\n"
    )
    assert result.returncode == 0, result.stderr
    config = home / ".config" / "certmint" / "config.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    # The trusted bundle is remembered: a later shell without the variable works.
    without_bundle = {k: v for k, v in env.items() if k != "CERTMINT_CA_BUNDLE"}
    assert run(without_bundle, work, "list").returncode == 0
    return env, work, password, config


def test_buy_download_renew_rekey_revoke_and_no_key_ever_leaves(stack, user):
    env, work, password, config = user
    key_path, crt = work / f"{NAME}.key", work / f"{NAME}.crt"
    chain, chained = work / f"{NAME}.chain.crt", work / f"{NAME}.chained.crt"

    bought = run(env, work, "buy", NAME, umask=0)
    assert bought.returncode == 0, bought.stderr
    assert key_path.stat().st_mode & 0o777 == 0o600
    openssl_verify(stack.root_ca, chain, crt)
    assert spki_of_key(key_path) == spki_of_cert(crt)
    assert chained.read_text() == crt.read_text() + chain.read_text()
    keys = [key_path.read_bytes()]

    current = run(env, work, "download", NAME)
    assert current.returncode == 10, current.stderr

    first_serial = serial_of(crt)
    renewed = run(env, work, "renew", NAME)
    assert renewed.returncode == 0, renewed.stderr
    assert serial_of(crt) != first_serial
    assert key_path.read_bytes() == keys[0]
    assert spki_of_key(key_path) == spki_of_cert(crt)

    rekeyed = run(env, work, "rekey", NAME)
    assert rekeyed.returncode == 0, rekeyed.stderr
    assert not (work / f"{NAME}.key.new").exists()
    assert key_path.read_bytes() != keys[0]
    assert spki_of_key(key_path) == spki_of_cert(crt)
    openssl_verify(stack.root_ca, chain, crt)
    keys.append(key_path.read_bytes())

    revoked = run(env, work, "revoke", "--yes", NAME)
    assert revoked.returncode == 0, revoked.stderr
    shown = run(env, work, "show", "--json", NAME)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["current"]["serial_number"] == f"{serial_of(crt):x}"
    assert run(env, work, "download", NAME).returncode == 10

    rsa_name = "rsa.example.test"
    bought_rsa = run(env, work, "buy", "--key-type", "rsa2048", rsa_name)
    assert bought_rsa.returncode == 0, bought_rsa.stderr
    keys.append((work / f"{rsa_name}.key").read_bytes())
    assert b"BEGIN PRIVATE KEY" in keys[-1]

    # The recorder: nothing secret in what the API received, what it stored,
    # or what it logged. The CSRs we sent must be there, which proves the
    # recorder saw the request bodies at all.
    received = Path(stack.requests_path).read_bytes()
    stored = dump_table(stack)
    logged = Path(stack.log_path).read_bytes()
    assert b"CERTIFICATE REQUEST" in received
    assert NAME.encode() in stored
    api_key = next(
        line.split("=", 1)[1].strip().strip('"')
        for line in config.read_text().splitlines()
        if line.startswith("api_key")
    )
    for pem in keys:
        key = serialization.load_pem_private_key(pem, password=None)
        for secret in [pem, *key_secrets(key)]:
            assert secret not in received
            assert secret not in stored
            assert secret not in logged
    for secret in (password.encode(), api_key.encode()):
        assert secret not in stored
        assert secret not in logged


def test_mismatched_certificate_replaces_nothing(user, tmp_path):
    env, work, _, _ = user
    assert run(env, work, "buy", "mismatch.example.test").returncode == 0
    files = sorted(work.glob("mismatch.example.test*"))
    before = {path.name: path.read_bytes() for path in files}

    other = tmp_path / "other"
    other.mkdir()
    assert run(env, other, "req", "decoy.example.test").returncode == 0
    decoy = other / "decoy.example.test.key"
    key_path = work / "mismatch.example.test.key"
    os.replace(decoy, key_path)
    before[key_path.name] = key_path.read_bytes()
    renewed = run(env, work, "renew", "--no-wait", "mismatch.example.test")
    assert renewed.returncode == 12, renewed.stderr

    result = run(env, work, "download", "mismatch.example.test")
    assert result.returncode == 13, result.stderr
    assert "does not match" in result.stderr
    assert {
        p.name: p.read_bytes() for p in sorted(work.glob("mismatch.example.test*"))
    } == before


def test_interrupted_write_keeps_the_previous_pair_and_the_next_run_completes(
    stack, user
):
    env, work, _, _ = user
    name = "interrupted.example.test"
    assert run(env, work, "buy", name).returncode == 0
    crt, key_path = work / f"{name}.crt", work / f"{name}.key"
    old_crt, old_key = crt.read_bytes(), key_path.read_bytes()

    renewed = run(env, work, "renew", "--no-wait", name)
    assert renewed.returncode == 12, renewed.stderr
    # `ulimit -f`: the 100 bytes allowed cannot hold any certificate file.
    failed = run(env, work, "download", name, max_file_bytes=100)
    assert failed.returncode == 1, failed.stderr
    assert crt.read_bytes() == old_crt
    assert key_path.read_bytes() == old_key
    assert spki_of_key(key_path) == spki_of_cert(crt)
    assert all(path.stat().st_size > 0 for path in work.glob(f"{name}*"))
    assert not list(work.glob(f".{name}*"))

    completed = run(env, work, "download", name)
    assert completed.returncode == 0, completed.stderr
    assert crt.read_bytes() != old_crt
    assert spki_of_key(key_path) == spki_of_cert(crt)
    openssl_verify(stack.root_ca, work / f"{name}.chain.crt", crt)


def test_rekey_keeps_the_operators_mode_and_group(user):
    env, work, _, _ = user
    name = "owned.example.test"
    assert run(env, work, "buy", name).returncode == 0
    key_path = work / f"{name}.key"
    group = next(
        (g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getgid()), os.getgid()
    )
    os.chown(key_path, -1, group)
    os.chmod(key_path, 0o640)

    result = run(env, work, "rekey", name)
    assert result.returncode == 0, result.stderr
    assert key_path.stat().st_mode & 0o777 == 0o640
    assert key_path.stat().st_gid == group
    assert spki_of_key(key_path) == spki_of_cert(work / f"{name}.crt")


def test_wildcard_files_have_a_shell_safe_name(user):
    env, work, _, _ = user
    result = run(env, work, "buy", "*.wild.example.test")
    assert result.returncode == 0, result.stderr
    names = sorted(path.name for path in work.iterdir())
    assert "_wildcard.wild.example.test.key" in names
    assert not any("*" in name for name in names)


def test_bad_name_is_refused_before_any_file_exists(user):
    env, work, _, _ = user
    result = run(env, work, "buy", "www.*.example.test")
    assert result.returncode == 1
    assert "invalid_name" in result.stderr
    assert list(work.iterdir()) == []


def test_a_dangling_symlink_at_the_key_path_stops_buy_before_anything_is_created(
    user, tmp_path
):
    env, work, _, _ = user
    (work / "dangling.example.test.key").symlink_to(tmp_path / "elsewhere.key")

    result = run(env, work, "buy", "dangling.example.test")

    assert result.returncode == 1
    assert not (tmp_path / "elsewhere.key").exists()
    listed = run(env, work, "list", "--json")
    assert "dangling.example.test" not in listed.stdout


def test_a_download_killed_at_any_moment_leaves_whole_matching_files(stack, user):
    env, work, _, _ = user
    name = "killed.example.test"
    assert run(env, work, "buy", name).returncode == 0
    crt, key_path = work / f"{name}.crt", work / f"{name}.key"

    # Eight downloads, each SIGKILLed a little later than the one before, so
    # that the kills land before, during and after the file writes.
    for attempt in range(8):
        assert run(env, work, "renew", "--no-wait", name).returncode == 12
        process = subprocess.Popen(
            [*CLI, "download", name],
            cwd=work,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.15 * attempt)
        process.kill()
        process.wait(timeout=30)
        for path in work.glob(f"{name}*"):
            assert path.stat().st_size > 0, path
        assert spki_of_key(key_path) == spki_of_cert(crt)
        openssl_verify(stack.root_ca, work / f"{name}.chain.crt", crt)

    finished = run(env, work, "download", name)
    assert finished.returncode in (0, 10), finished.stderr
    chained = work / f"{name}.chained.crt"
    assert (
        chained.read_text()
        == crt.read_text() + (work / f"{name}.chain.crt").read_text()
    )
    assert not list(work.glob(f".{name}*"))


def test_files_holding_the_key_follow_the_key_mode_not_their_own(user):
    env, work, _, _ = user
    name = "bundle.example.test"
    assert run(env, work, "buy", "--combined", name).returncode == 0
    combined = work / f"{name}.combined.pem"
    assert combined.stat().st_mode & 0o777 == 0o600
    os.chmod(combined, 0o644)  # loosened by mistake

    renewed = run(env, work, "renew", name)

    assert renewed.returncode == 0, renewed.stderr
    assert combined.stat().st_mode & 0o777 == 0o600
