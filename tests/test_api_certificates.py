"""Certificates over the real HTTPS API: create, CSR, issue, reissue, revoke, CRL."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from chalicelib import certificates
from chalicelib.accounts import Principal
from chalicelib.clock import utcnow
from chalicelib.credentials import Kind
from chalicelib.issuers import PrivateCAIssuer
from chalicelib.storage import Table
from tests.support.api import Account, client, make_csr, new_key, sign_up


@pytest.fixture
def http(stack) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with client(stack.api_url, stack.root_ca) as session:
        yield session


@pytest.fixture
def account(http) -> Account:  # type: ignore[no-untyped-def]
    return sign_up(http)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def create(account: Account, names: list[str], **extra: object) -> dict:
    response = account.call("POST", "/v1/certificates", json={"names": names, **extra})
    assert response.status_code == 201, response.text
    return response.json()["certificate"]


def submit(
    account: Account, name: str, csr: str, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return account.call(
        "POST",
        f"/v1/certificates/{quote(name, safe='')}/instances",
        json={"csr": csr},
        headers=headers,
    )


def buy(account: Account, names: list[str], key_type: str = "ecdsa-p256"):
    certificate = create(account, names)
    key = new_key(key_type)
    response = submit(account, certificate["name"], make_csr(key, certificate["names"]))
    assert response.status_code == 201, response.text
    return certificate, key, response.json()["instance"]


def spki(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_create_normalizes_names_and_defaults_the_name(account):
    certificate = create(
        account, ["WWW.Example.TEST.", "example.test", "www.example.test"]
    )
    assert certificate["name"] == "www.example.test"
    assert certificate["names"] == ["www.example.test", "example.test"]
    assert certificate["auto_renew"] is True
    assert certificate["current"] is None and certificate["pending"] is None
    again = account.call(
        "POST", "/v1/certificates", json={"names": ["www.example.test"]}
    )
    assert (again.status_code, code(again)) == (409, "certificate_exists")


@pytest.mark.parametrize(
    "names", [["www.*.example.test"], ["localhost"], ["192.0.2.10"], ["a..b.test"], []]
)
def test_bad_names_are_refused_and_nothing_is_stored(account, names):
    response = account.call("POST", "/v1/certificates", json={"names": names})
    assert response.status_code == 400
    assert code(response) in {"invalid_name", "invalid_request"}
    assert account.call("GET", "/v1/certificates").json()["certificates"] == []


def test_more_than_100_names_are_refused(account):
    names = [f"host{i}.example.test" for i in range(101)]
    response = account.call("POST", "/v1/certificates", json={"names": names})
    assert (response.status_code, code(response)) == (400, "too_many_names")


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa2048"])
def test_csr_is_issued_with_a_chain_that_verifies(account, stack, tmp_path, key_type):
    _, key, instance = buy(account, ["www.example.test", "example.test"], key_type)
    assert instance["state"] == "issued"
    assert instance["key_type"] == key_type

    current = account.call("GET", "/v1/certificates/www.example.test/current")
    assert current.status_code == 200
    body = current.json()
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert spki(key) == leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "www.example.test",
        "example.test",
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.serial_number.bit_length() >= 64
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=1) < lifetime <= timedelta(days=199)
    assert f"{leaf.serial_number:x}" == instance["serial_number"]
    assert "BEGIN CERTIFICATE" in body["chain"]
    root_pem = Path(stack.root_ca).read_bytes()
    assert root_pem.strip() not in body["chain"].encode()

    (tmp_path / "leaf.pem").write_text(body["certificate"])
    (tmp_path / "chain.pem").write_text(body["chain"])
    result = subprocess.run(
        [
            "openssl", "verify", "-CAfile", str(stack.root_ca),
            "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem"),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_csr_with_other_names_is_refused_and_stores_no_instance(account):
    certificate = create(account, ["www.example.test"])
    csr = make_csr(new_key(), ["www.example.test", "evil.example.test"])
    response = submit(account, certificate["name"], csr)
    assert (response.status_code, code(response)) == (400, "csr_names_mismatch")
    listed = account.call("GET", "/v1/certificates/www.example.test/instances")
    assert listed.json()["instances"] == []


@pytest.mark.parametrize("key_type", ["ecdsa-p521", "rsa1024"])
def test_unsupported_keys_are_refused(account, key_type):
    certificate = create(account, ["www.example.test"])
    if key_type == "rsa1024":
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(65537, 1024)
    else:
        key = new_key(key_type)
    response = submit(account, certificate["name"], make_csr(key, certificate["names"]))
    assert (response.status_code, code(response)) == (400, "unsupported_key")


def test_garbage_csr_is_refused(account):
    create(account, ["www.example.test"])
    response = submit(
        account, "www.example.test", "-----BEGIN CERTIFICATE REQUEST-----"
    )
    assert (response.status_code, code(response)) == (400, "invalid_csr")


def test_retry_with_the_same_idempotency_key_makes_one_instance(account):
    certificate = create(account, ["api.example.test"])
    csr = make_csr(new_key(), certificate["names"])
    key = str(uuid.uuid4())
    first = submit(account, certificate["name"], csr, key).json()["instance"]
    second = submit(account, certificate["name"], csr, key).json()["instance"]
    assert first["id"] == second["id"]
    assert first["serial_number"] == second["serial_number"]
    listed = account.call("GET", "/v1/certificates/api.example.test/instances")
    assert len(listed.json()["instances"]) == 1


def test_concurrent_creates_of_one_name_make_one_certificate(account):
    def attempt(_: int) -> int:
        response = account.call(
            "POST", "/v1/certificates", json={"names": ["race.example.test"]}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))
    assert statuses == [201, 409, 409, 409]


def test_reissue_keeps_the_key_and_revoke_keeps_the_newest(account, http):
    _, _, first = buy(account, ["shop.example.test"])
    response = account.call(
        "POST", "/v1/certificates/shop.example.test/reissue", json={}
    )
    assert response.status_code == 201, response.text
    second = response.json()["instance"]
    assert second["id"] != first["id"]
    assert second["serial_number"] != first["serial_number"]
    assert second["public_key_sha256"] == first["public_key_sha256"]

    revoked = account.call("POST", "/v1/certificates/shop.example.test/revoke", json={})
    assert [i["id"] for i in revoked.json()["revoked"]] == [first["id"]]
    shown = account.call("GET", "/v1/certificates/shop.example.test").json()
    assert shown["certificate"]["current"]["id"] == second["id"]

    crl = x509.load_der_x509_crl(http.get("/v1/crl").content)
    assert crl.get_revoked_certificate_by_serial_number(int(first["serial_number"], 16))
    assert not crl.get_revoked_certificate_by_serial_number(
        int(second["serial_number"], 16)
    )

    everything = account.call(
        "POST", "/v1/certificates/shop.example.test/revoke", json={"all": True}
    )
    assert [i["id"] for i in everything.json()["revoked"]] == [second["id"]]
    none_left = account.call("GET", "/v1/certificates/shop.example.test/current")
    assert (none_left.status_code, code(none_left)) == (404, "no_certificate")


def test_edit_names_and_auto_renew(account):
    create(account, ["mail.example.test"])
    response = account.call(
        "PATCH",
        "/v1/certificates/MAIL.example.test",
        json={"add_names": ["Smtp.Example.Test"], "auto_renew": False},
    )
    assert response.status_code == 200, response.text
    edited = response.json()["certificate"]
    assert edited["names"] == ["mail.example.test", "smtp.example.test"]
    assert edited["auto_renew"] is False
    removed = account.call(
        "PATCH",
        "/v1/certificates/mail.example.test",
        json={"remove_names": ["smtp.example.test"]},
    )
    assert removed.json()["certificate"]["names"] == ["mail.example.test"]
    empty = account.call(
        "PATCH",
        "/v1/certificates/mail.example.test",
        json={"remove_names": ["mail.example.test"]},
    )
    assert (empty.status_code, code(empty)) == (400, "invalid_request")


def test_wildcard_certificate_is_addressed_by_its_encoded_name(account):
    certificate, _, instance = buy(account, ["*.example.test"])
    assert certificate["name"] == "*.example.test"
    response = account.call("GET", "/v1/certificates/%2A.example.test/current")
    assert response.status_code == 200
    assert response.json()["instance"]["id"] == instance["id"]


def test_a_pending_instance_left_by_a_dead_lambda_is_completed_on_read(account, stack):
    _, _, instance = buy(account, ["resume.example.test"])
    table = Table(stack.settings)
    stored = table.get(
        f"ACCOUNT#{account.id}", f"INSTANCE#resume.example.test#{instance['id']}"
    )
    assert stored is not None
    stranded_id = stored["id"][:-8] + "deadbeef"
    stranded = {
        **stored,
        "sk": f"INSTANCE#resume.example.test#{stranded_id}",
        "id": stranded_id,
        "state": "pending",
    }
    for field in (
        "certificate_pem",
        "chain_pem",
        "issued_at",
        "not_valid_before",
        "not_valid_after",
    ):
        stranded.pop(field)
    table.put_new(stranded)

    response = account.call(
        "GET", f"/v1/certificates/resume.example.test/instances/{stranded['id']}"
    )
    assert response.status_code == 200
    assert response.json()["instance"]["state"] == "issued"


ROUTES = [
    ("GET", "/v1/certificates/{name}", None),
    ("PATCH", "/v1/certificates/{name}", {"auto_renew": False}),
    ("POST", "/v1/certificates/{name}/instances", {"csr": "placeholder"}),
    ("GET", "/v1/certificates/{name}/instances", None),
    ("GET", "/v1/certificates/{name}/instances/{instance}", None),
    ("POST", "/v1/certificates/{name}/reissue", {}),
    ("POST", "/v1/certificates/{name}/revoke", {"all": True}),
    ("GET", "/v1/certificates/{name}/current", None),
    ("DELETE", "/v1/api-keys/{key_id}", None),
]


@pytest.mark.parametrize(("method", "template", "body"), ROUTES)
def test_one_account_never_sees_or_touches_anothers_data(http, method, template, body):
    owner = sign_up(http)
    intruder = sign_up(http)
    certificate, _, instance = buy(owner, ["private.example.test"])
    owner_key_id = owner.call("GET", "/v1/api-keys").json()["api_keys"][0]["id"]
    if body and "csr" in body:
        body = {"csr": make_csr(new_key(), certificate["names"])}
    path = template.format(
        name="private.example.test", instance=instance["id"], key_id=owner_key_id
    )

    response = (
        intruder.call(method, path, json=body)
        if body is not None
        else intruder.call(method, path)
    )
    assert response.status_code == 404, (method, path, response.text)
    assert "private.example.test" not in str(
        intruder.call("GET", "/v1/certificates").json()
    )

    after = owner.call("GET", "/v1/certificates/private.example.test").json()[
        "certificate"
    ]
    assert after["auto_renew"] is True
    assert after["current"]["id"] == instance["id"]
    assert owner.call("GET", "/v1/account").status_code == 200


def test_an_idempotency_key_stands_for_one_request_only(account):
    first = create(account, ["idem.example.test"])
    second = create(account, ["other.example.test"])
    key = str(uuid.uuid4())
    made = submit(account, first["name"], make_csr(new_key(), first["names"]), key)
    assert made.status_code == 201

    elsewhere = submit(
        account, second["name"], make_csr(new_key(), second["names"]), key
    )
    assert (elsewhere.status_code, code(elsewhere)) == (409, "idempotency_key_reused")
    other_key = submit(account, first["name"], make_csr(new_key(), first["names"]), key)
    assert (other_key.status_code, code(other_key)) == (409, "idempotency_key_reused")
    listed = account.call("GET", "/v1/certificates/other.example.test/instances")
    assert listed.json()["instances"] == []


def test_concurrent_reuse_of_an_idempotency_key_never_crosses_certificates(account):
    names = ["p.example.test", "q.example.test"]
    certificates = [create(account, [name]) for name in names]
    csrs = [make_csr(new_key(), c["names"]) for c in certificates]
    key = str(uuid.uuid4())

    def attempt(i: int) -> int:
        return submit(account, names[i % 2], csrs[i % 2], key).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert set(statuses) <= {201, 409}
    for name in names:
        for instance in account.call(
            "GET", f"/v1/certificates/{name}/instances"
        ).json()["instances"]:
            assert instance["names"] == [name]


def test_an_empty_certificate_name_is_refused(account):
    response = account.call(
        "POST", "/v1/certificates", json={"names": ["a.example.test"], "name": ""}
    )
    assert (response.status_code, code(response)) == (400, "invalid_name")


def test_overlong_instance_id_is_not_found(account):
    create(account, ["long.example.test"])
    response = account.call(
        "GET", "/v1/certificates/long.example.test/instances/" + "A" * 3000
    )
    assert (response.status_code, code(response)) == (404, "instance_not_found")
    assert "A" * 200 not in response.text


def test_the_crl_is_rebuilt_with_a_new_number_only_after_a_revocation(http, account):
    def fetch() -> x509.CertificateRevocationList:
        return x509.load_der_x509_crl(http.get("/v1/crl").content)

    def number(crl: x509.CertificateRevocationList) -> int:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    first = fetch()
    assert fetch().public_bytes(serialization.Encoding.DER) == first.public_bytes(
        serialization.Encoding.DER
    )
    _, _, instance = buy(account, ["numbered.example.test"])
    account.call(
        "POST", "/v1/certificates/numbered.example.test/revoke", json={"all": True}
    )
    second = fetch()
    assert number(second) > number(first)
    assert second.get_revoked_certificate_by_serial_number(
        int(instance["serial_number"], 16)
    )


class _TableThatYields(Table):
    """A table that runs ``interleave`` just before the CRL number is taken,
    to replay deterministically a race another Lambda could win."""

    def __init__(self, settings, interleave) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self._interleave = interleave

    def increment(self, pk: str, sk: str, attribute: str) -> int:
        if sk == "NUMBER" and self._interleave is not None:
            interleave, self._interleave = self._interleave, None
            interleave()
        return super().increment(pk, sk, attribute)


def test_a_crl_built_from_older_reads_never_replaces_a_newer_one(account, stack):
    _, _, instance = buy(account, ["raced.example.test"])
    serial = int(instance["serial_number"], 16)
    principal = Principal(account.id, Kind.API_KEY, "test")
    issuer = PrivateCAIssuer(stack.settings)
    table = Table(stack.settings)
    later: list[bytes] = []

    def meanwhile() -> None:
        # Another Lambda revokes and serves a CRL listing the serial, after
        # ours read the revocations but before it took its number.
        certificates.revoke(table, principal, "raced.example.test", True, utcnow())
        later.append(certificates.crl(table, issuer, utcnow()))

    # A revocation makes the stored CRL stale, so our fetch must rebuild it.
    buy(account, ["stale.example.test"])
    certificates.revoke(table, principal, "stale.example.test", True, utcnow())
    ours = certificates.crl(
        _TableThatYields(stack.settings, meanwhile), issuer, utcnow()
    )
    assert later, "the interleaved revocation did not run"

    def listed(der: bytes) -> tuple[int, set[int]]:
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value
        return number.crl_number, {r.serial_number for r in crl}

    their_number, their_serials = listed(later[0])
    our_number, our_serials = listed(ours)
    assert serial in their_serials
    assert our_number >= their_number
    assert their_serials <= our_serials


def test_a_retry_answers_as_the_first_call_even_after_the_certificate_changed(
    account,
):
    certificate = create(account, ["retry.example.test"])
    csr = make_csr(new_key(), certificate["names"])
    key = str(uuid.uuid4())
    first = submit(account, certificate["name"], csr, key).json()["instance"]
    account.call(
        "PATCH",
        "/v1/certificates/retry.example.test",
        json={"add_names": ["more.example.test"]},
    )
    again = submit(account, certificate["name"], csr, key)
    assert again.status_code == 201, again.text
    assert again.json()["instance"]["id"] == first["id"]

    reissue_key = str(uuid.uuid4())
    path = "/v1/certificates/retry.example.test/reissue"
    headers = {"Idempotency-Key": reissue_key}
    reissued = account.call("POST", path, json={}, headers=headers).json()["instance"]
    account.call(
        "POST", "/v1/certificates/retry.example.test/revoke", json={"all": True}
    )
    retried = account.call("POST", path, json={}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["instance"]["id"] == reissued["id"]
