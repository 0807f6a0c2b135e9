"""Certificates, their instances, and revocation.

A *certificate* is what the user named and manages (its names, auto-renew);
each *instance* is one request to the issuer and, once issued, one X.509
certificate. Items (see docs/architecture.md):

- ``ACCOUNT#<id>`` / ``CERT#<name>``: names, auto_renew, version, times
- ``ACCOUNT#<id>`` / ``INSTANCE#<name>#<instance id>``: state, names,
  public key (PEM, public), serial_number, validity, the issued PEMs
- ``ACCOUNT#<id>`` / ``IDEMPOTENCY#<sha256 of key>``: instance sort key
- ``SERIAL#<issuer>#<hex>`` / ``SERIAL``: reserves a serial number
- ``CRL#<issuer>`` / ``SERIAL#<hex>``: one revoked serial; ``REVISION``,
  ``NUMBER`` counters and ``CURRENT``, the last CRL built

Every key of a user's data starts with their account partition, so one
account cannot name another's data. Instance ids sort by creation time.

Issuance is a retry-safe step: the instance is stored ``pending`` with its
serial number reserved, then signed, then moved to ``issued`` by a write
conditional on it still being pending. A Lambda that dies anywhere in
between leaves a pending instance that the next read completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from boto3.dynamodb.conditions import Attr
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chalicelib import csr as csr_checks
from chalicelib import names as name_rules
from chalicelib import private_ca
from chalicelib.accounts import Principal
from chalicelib.clock import parse_rfc3339, rfc3339
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.issuers import Issuer, PublicKey
from chalicelib.names import quote
from chalicelib.storage import ConditionFailed, Item, Table

PENDING, ISSUED, REVOKED = "pending", "issued", "revoked"
# Stripe keeps idempotency keys for 24 hours; a CLI retry comes within seconds.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Rebuild the CRL well before its nextUpdate (issuers.CRL_VALIDITY, one day),
# so that relying parties never hold an expired one.
CRL_REBUILD_AFTER = timedelta(hours=6)
# Concurrent rebuilds race on one conditional write; a loser starts again
# from the winner's CRL. A few rounds suffice: each round, one of them wins.
_CRL_ATTEMPTS = 5
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_SERIAL_ATTEMPTS = 3
_INSTANCE_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")


def _partition(principal: Principal) -> str:
    return f"ACCOUNT#{principal.account_id}"


def _path_name(raw: str) -> str:
    """A certificate name from a URL path: normalized like any name."""
    # API Gateway decodes path parameters; the local gateway does not. A name
    # never holds "%", so decoding twice cannot turn a bad name into a good one.
    try:
        return name_rules.normalize_name(unquote(raw))
    except BadRequest:
        raise NotFound(
            "certificate_not_found", "No certificate with that name."
        ) from None


def _load(table: Table, principal: Principal, name: str) -> Item:
    item = table.get(_partition(principal), f"CERT#{name}")
    if item is None:
        raise NotFound("certificate_not_found", f"No certificate named {name}.")
    return item


def _instances(table: Table, principal: Principal, name: str) -> list[Item]:
    """The certificate's instances, newest first."""
    return list(
        table.query_prefix(
            _partition(principal), f"INSTANCE#{name}#", newest_first=True
        )
    )


def instance_view(item: Item) -> dict[str, Any]:
    """Return the API's JSON shape of a stored instance; pure, raises nothing
    for a well-formed item. A pending instance shows no serial number."""
    return {
        "id": item["id"],
        "state": item["state"],
        "names": list(item["names"]),
        "key_type": item["key_type"],
        "public_key_sha256": item["public_key_sha256"],
        "serial_number": item.get("serial_number")
        if item["state"] != PENDING
        else None,
        "not_valid_before": item.get("not_valid_before"),
        "not_valid_after": item.get("not_valid_after"),
        "created_at": item["created_at"],
        "issued_at": item.get("issued_at"),
        "revoked_at": item.get("revoked_at"),
    }


def _current(instances: Iterable[Item]) -> Item | None:
    return next((item for item in instances if item["state"] == ISSUED), None)


def _certificate_view(item: Item, instances: Sequence[Item]) -> dict[str, Any]:
    current = _current(instances)
    pending = next((i for i in instances if i["state"] == PENDING), None)
    return {
        "name": item["sk"].removeprefix("CERT#"),
        "names": list(item["names"]),
        "auto_renew": bool(item["auto_renew"]),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "current": instance_view(current) if current else None,
        "pending": instance_view(pending) if pending else None,
    }


def create(
    table: Table,
    principal: Principal,
    names: Sequence[str],
    name: str | None,
    auto_renew: bool,
    now: datetime,
) -> dict[str, Any]:
    """Create a certificate (no instance yet). Conflict if the name is taken."""
    normalized = name_rules.normalize_names(names)
    cert_name = normalized[0] if name is None else name_rules.normalize_name(name)
    item = {
        "pk": _partition(principal),
        "sk": f"CERT#{cert_name}",
        "names": normalized,
        "auto_renew": auto_renew,
        "version": 1,
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
    }
    try:
        table.put_new(item)
    except ConditionFailed:
        raise Conflict(
            "certificate_exists",
            f"This account already has a certificate named {cert_name}.",
        ) from None
    return _certificate_view(item, [])


def list_all(table: Table, principal: Principal) -> list[dict[str, Any]]:
    """Every certificate of the account, sorted by name, with current/pending."""
    partition = _partition(principal)
    by_name: dict[str, list[Item]] = {}
    for instance in table.query_prefix(partition, "INSTANCE#", newest_first=True):
        by_name.setdefault(instance["certificate_name"], []).append(instance)
    return [
        _certificate_view(item, by_name.get(item["sk"].removeprefix("CERT#"), []))
        for item in table.query_prefix(partition, "CERT#")
    ]


def show(
    table: Table, issuer: Issuer, principal: Principal, raw_name: str, now: datetime
) -> dict[str, Any]:
    """Return the caller's certificate named ``raw_name`` with its current and
    pending instances; raises NotFound (certificate_not_found) if there is none.

    Idempotent, but not read-only: a pending instance is issued on the way
    (as in list_instances, get_instance and current, unlike list_all), so
    the answer shows it issued.
    """
    name = _path_name(raw_name)
    item = _load(table, principal, name)
    instances = [
        _advance(table, issuer, i, now) for i in _instances(table, principal, name)
    ]
    return _certificate_view(item, instances)


def edit(
    table: Table,
    principal: Principal,
    raw_name: str,
    add_names: Sequence[str],
    remove_names: Sequence[str],
    auto_renew: bool | None,
    now: datetime,
) -> dict[str, Any]:
    """Change names or auto-renew. The write is conditional on the version
    read, so of two concurrent edits one wins and the other gets edit_conflict."""
    name = _path_name(raw_name)
    item = _load(table, principal, name)
    removing = set(name_rules.normalize_names(remove_names)) if remove_names else set()
    adding = name_rules.normalize_names(add_names) if add_names else []
    unknown = removing - set(item["names"])
    if unknown:
        raise BadRequest(
            "invalid_request",
            f"{', '.join(sorted(unknown))} is not on certificate {name}.",
        )
    names = [n for n in item["names"] if n not in removing]
    names = name_rules.normalize_names(names + adding) if names or adding else []
    if not names:
        raise BadRequest("invalid_request", "A certificate needs at least one name.")
    values: dict[str, Any] = {
        "names": names,
        "version": int(item["version"]) + 1,
        "updated_at": rfc3339(now),
    }
    if auto_renew is not None:
        values["auto_renew"] = auto_renew
    try:
        updated = table.update(
            item["pk"],
            item["sk"],
            values,
            condition=Attr("version").eq(item["version"]),
        )
    except ConditionFailed:
        raise Conflict(
            "edit_conflict", "Another edit won; read and try again."
        ) from None
    return _certificate_view(updated, _instances(table, principal, name))


def check_idempotency_key(key: str | None) -> str | None:
    """Return an Idempotency-Key header value unchanged, or None when absent.

    Pure. Raises BadRequest (invalid_idempotency_key) unless it is 1 to 255
    printable ASCII characters.
    """
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all(
        " " <= ch <= "~" for ch in key
    ):
        raise BadRequest(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
    return key


def submit_csr(
    table: Table,
    issuer: Issuer,
    principal: Principal,
    raw_name: str,
    csr_pem: str,
    idempotency_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Request a new instance for a CSR whose names are the certificate's."""
    name = _path_name(raw_name)
    item = _load(table, principal, name)
    checked = csr_checks.parse_csr(csr_pem)
    idempotency = _idempotency(idempotency_key, "csr", name, checked.public_key_sha256)
    replayed = _replay(table, issuer, principal, idempotency, now)
    if replayed is not None:
        return replayed
    csr_checks.require_names_match(checked, item["names"])
    return _new_instance(
        table, issuer, principal, item, checked.public_key, idempotency, now
    )


def reissue(
    table: Table,
    issuer: Issuer,
    principal: Principal,
    raw_name: str,
    idempotency_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new instance for the current instance's key and the current names.

    Possession of the key was proven by the CSR of an earlier instance.
    """
    name = _path_name(raw_name)
    item = _load(table, principal, name)
    idempotency = _idempotency(idempotency_key, "reissue", name, "")
    replayed = _replay(table, issuer, principal, idempotency, now)
    if replayed is not None:
        return replayed
    current = _current(_instances(table, principal, name))
    if current is None:
        raise NotFound(
            "no_certificate",
            f"{name} has no issued certificate to reissue; submit a CSR instead.",
        )
    public_key = serialization.load_pem_public_key(current["public_key_pem"].encode())
    assert isinstance(public_key, PublicKey)  # only such keys are ever stored
    return _new_instance(table, issuer, principal, item, public_key, idempotency, now)


def _new_instance(
    table: Table,
    issuer: Issuer,
    principal: Principal,
    certificate: Item,
    public_key: PublicKey,
    idempotency: tuple[str, str] | None,
    now: datetime,
) -> dict[str, Any]:
    """Store a pending instance and issue it.

    ``idempotency`` is (Idempotency-Key, request fingerprint) or None.
    """
    name = certificate["sk"].removeprefix("CERT#")
    instance_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(4)}"
    sort_key = f"INSTANCE#{name}#{instance_id}"
    if idempotency is not None:
        sort_key = _claim_idempotency_key(table, principal, *idempotency, sort_key, now)
        existing = table.get(_partition(principal), sort_key)
        if existing is not None:
            return instance_view(_advance(table, issuer, existing, now))
        instance_id = sort_key.rsplit("#", 1)[1]

    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    instance = {
        "pk": _partition(principal),
        "sk": sort_key,
        "id": instance_id,
        "certificate_name": name,
        "state": PENDING,
        "names": list(certificate["names"]),
        "key_type": csr_checks.key_type_of(public_key),
        "public_key_pem": public_pem,
        "public_key_sha256": csr_checks.public_key_sha256(public_key),
        "issuer_id": issuer.issuer_id,
        "serial_number": _reserve_serial(table, issuer, principal, sort_key),
        "created_at": rfc3339(now),
    }
    try:
        table.put_new(instance)
    except ConditionFailed:
        # A concurrent retry with the same idempotency key got here first.
        stored = table.get(instance["pk"], sort_key)
        assert stored is not None
        instance = stored
    return instance_view(_advance(table, issuer, instance, now))


def _idempotency(
    key: str | None, operation: str, name: str, public_key_sha256: str
) -> tuple[str, str] | None:
    """(key, fingerprint of the request it stands for), or None without a key."""
    if key is None:
        return None
    request = f"{operation}|{name}|{public_key_sha256}"
    return key, hashlib.sha256(request.encode()).hexdigest()


def _replay(
    table: Table,
    issuer: Issuer,
    principal: Principal,
    idempotency: tuple[str, str] | None,
    now: datetime,
) -> dict[str, Any] | None:
    """The instance a live claim of this key made, if any.

    Checked before the request is validated again, so that a retry answers
    as the first call did even if the certificate changed in between.
    """
    if idempotency is None:
        return None
    key, fingerprint = idempotency
    digest = hashlib.sha256(key.encode("ascii")).hexdigest()
    claim = table.get(_partition(principal), f"IDEMPOTENCY#{digest}")
    if claim is None or claim["expires_at"] <= rfc3339(now):
        return None
    instance = table.get(_partition(principal), _claimed(claim, fingerprint))
    return (
        None
        if instance is None
        else instance_view(_advance(table, issuer, instance, now))
    )


def _claim_idempotency_key(
    table: Table,
    principal: Principal,
    key: str,
    fingerprint: str,
    sort_key: str,
    now: datetime,
) -> str:
    """The instance sort key this idempotency key stands for (claimed if new).

    A key stands for one request: the same operation on the same certificate
    for the same public key. Reusing it for anything else is refused, as
    Stripe does, rather than answered with another request's instance.
    """
    digest = hashlib.sha256(key.encode("ascii")).hexdigest()
    claim_key = f"IDEMPOTENCY#{digest}"
    claim = table.get(_partition(principal), claim_key)
    if claim is not None and claim["expires_at"] > rfc3339(now):
        return _claimed(claim, fingerprint)
    expires = now + IDEMPOTENCY_WINDOW
    item = {
        "pk": _partition(principal),
        "sk": claim_key,
        "instance_sk": sort_key,
        "fingerprint": fingerprint,
        "expires_at": rfc3339(expires),
        "expires_ttl": int(expires.timestamp()),
    }
    try:
        if claim is None:
            table.put_new(item)
        else:  # expired but not yet swept by TTL: take it over
            table.put(item, condition=Attr("expires_at").eq(claim["expires_at"]))
    except ConditionFailed:
        again = table.get(_partition(principal), claim_key)
        assert again is not None
        return _claimed(again, fingerprint)
    return sort_key


def _claimed(claim: Item, fingerprint: str) -> str:
    if claim.get("fingerprint") != fingerprint:
        raise Conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        )
    return str(claim["instance_sk"])


def _reserve_serial(
    table: Table, issuer: Issuer, principal: Principal, sort_key: str
) -> str:
    for _ in range(_SERIAL_ATTEMPTS):
        serial = f"{private_ca.random_serial_number():x}"
        try:
            table.put_new(
                {
                    "pk": f"SERIAL#{issuer.issuer_id}#{serial}",
                    "sk": "SERIAL",
                    "account_id": principal.account_id,
                    "instance_sk": sort_key,
                }
            )
        except ConditionFailed:
            continue  # astronomically unlikely with 128 random bits; try another
        return serial
    raise RuntimeError("could not reserve a unique serial number")


def _advance(table: Table, issuer: Issuer, instance: Item, now: datetime) -> Item:
    """Move a pending instance to issued; returns the instance as stored.

    Idempotent and safe to run concurrently: whichever signature's conditional
    write lands first is the certificate; the others are discarded unseen.
    """
    if instance["state"] != PENDING:
        return instance
    public_key = serialization.load_pem_public_key(instance["public_key_pem"].encode())
    assert isinstance(public_key, PublicKey)
    issued = issuer.issue(
        public_key=public_key,
        names=instance["names"],
        serial_number=int(instance["serial_number"], 16),
        now=now,
    )
    try:
        return table.update(
            instance["pk"],
            instance["sk"],
            {
                "state": ISSUED,
                "certificate_pem": issued.certificate_pem,
                "chain_pem": issued.chain_pem,
                "not_valid_before": rfc3339(issued.not_valid_before),
                "not_valid_after": rfc3339(issued.not_valid_after),
                "issued_at": rfc3339(now),
            },
            condition=Attr("state").eq(PENDING),
        )
    except ConditionFailed:
        stored = table.get(instance["pk"], instance["sk"])
        assert stored is not None
        return stored


def list_instances(
    table: Table, issuer: Issuer, principal: Principal, raw_name: str, now: datetime
) -> list[dict[str, Any]]:
    """Return every instance of the caller's certificate ``raw_name``, newest
    first; raises NotFound (certificate_not_found) if there is no such
    certificate. Idempotent; issues any pending instance on the way, as show."""
    name = _path_name(raw_name)
    _load(table, principal, name)
    return [
        instance_view(_advance(table, issuer, i, now))
        for i in _instances(table, principal, name)
    ]


def get_instance(
    table: Table,
    issuer: Issuer,
    principal: Principal,
    raw_name: str,
    instance_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Return one instance of the caller's certificate ``raw_name``.

    Raises NotFound (instance_not_found, or certificate_not_found for a name
    that cannot exist) when there is none. Idempotent; issues the instance on
    the way if it is pending, as show.
    """
    name = _path_name(raw_name)
    item = None
    if _INSTANCE_ID.fullmatch(instance_id):
        item = table.get(_partition(principal), f"INSTANCE#{name}#{instance_id}")
    if item is None:
        raise NotFound(
            "instance_not_found", f"{name} has no instance {quote(instance_id)}."
        )
    return instance_view(_advance(table, issuer, item, now))


def current(
    table: Table, issuer: Issuer, principal: Principal, raw_name: str, now: datetime
) -> dict[str, Any]:
    """The newest issued, unrevoked instance with its PEMs."""
    name = _path_name(raw_name)
    _load(table, principal, name)
    instances = [
        _advance(table, issuer, i, now) for i in _instances(table, principal, name)
    ]
    newest = _current(instances)
    if newest is None:
        raise NotFound("no_certificate", f"{name} has no issued certificate yet.")
    return {
        "name": name,
        "instance": instance_view(newest),
        "certificate": newest["certificate_pem"],
        "chain": newest["chain_pem"],
    }


def revoke(
    table: Table,
    principal: Principal,
    raw_name: str,
    include_newest: bool,
    now: datetime,
) -> list[dict[str, Any]]:
    """Revoke every issued instance but the newest (or all of them).

    Per instance, in this order: the CRL entry (kept if a retry finds it), the
    CRL revision bump that makes the cached CRL stale, then the instance's
    state. A Lambda dying anywhere leaves the serial revoked or not yet, never
    an instance marked revoked that the CRL does not list; a retry finishes.
    """
    name = _path_name(raw_name)
    _load(table, principal, name)
    issued = [i for i in _instances(table, principal, name) if i["state"] == ISSUED]
    targets = issued if include_newest else issued[1:]
    revoked = []
    for instance in targets:
        crl_partition = f"CRL#{instance['issuer_id']}"
        with contextlib.suppress(ConditionFailed):
            table.put_new(
                {
                    "pk": crl_partition,
                    "sk": f"SERIAL#{instance['serial_number']}",
                    "revoked_at": rfc3339(now),
                    "not_valid_after": instance["not_valid_after"],
                }
            )
        table.increment(crl_partition, "REVISION", "revision")
        try:
            revoked.append(
                table.update(
                    instance["pk"],
                    instance["sk"],
                    {"state": REVOKED, "revoked_at": rfc3339(now)},
                    condition=Attr("state").eq(ISSUED),
                )
            )
        except ConditionFailed:
            continue  # revoked concurrently; that call reports it
    return [instance_view(item) for item in revoked]


def crl(table: Table, issuer: Issuer, now: datetime) -> bytes:
    """The issuer's current CRL (every revoked serial of this issuer), DER.

    Anyone may fetch it, so a fetch is normally two reads: the stored CRL
    (``CURRENT``) is served while no revocation happened since it was built
    and it is under CRL_REBUILD_AFTER old.

    Otherwise the fetch rebuilds it. Only a CRL that won the compare-and-swap
    onto ``CURRENT`` is ever served, and each one lists every serial of the
    one it replaced, so a higher number never lists less (RFC 5280 §5: an
    entry stays until the certificate expires; §5.2.3: numbers order CRLs).
    Its number comes from an atomic counter taken after reading ``CURRENT``,
    so it is higher than the number of the CRL it replaces.
    """
    partition = f"CRL#{issuer.issuer_id}"
    for _ in range(_CRL_ATTEMPTS):
        revision_item = table.get(partition, "REVISION")
        revision = int(revision_item["revision"]) if revision_item else 0
        cached = table.get(partition, "CURRENT")
        if (
            cached is not None
            and int(cached["revision"]) >= revision
            and cached["built_at"] > rfc3339(now - CRL_REBUILD_AFTER)
        ):
            return bytes(cached["der"].value)

        entries = {
            int(item["sk"].removeprefix("SERIAL#"), 16): parse_rfc3339(
                item["revoked_at"]
            )
            for item in table.query_prefix(partition, "SERIAL#")
        }
        if cached is not None:
            for listed in x509.load_der_x509_crl(bytes(cached["der"].value)):
                entries.setdefault(listed.serial_number, listed.revocation_date_utc)
        # TODO: drop entries whose certificate expired over a day ago, and
        # shard the CRL, before it nears DynamoDB's 400 KB item limit (about
        # 10,000 entries).
        number = table.increment(partition, "NUMBER", "crl_number")
        der = issuer.crl(sorted(entries.items()), now, number)
        swap = (
            Attr("pk").not_exists()
            if cached is None
            else Attr("crl_number").eq(cached["crl_number"])
        )
        try:
            table.put(
                {
                    "pk": partition,
                    "sk": "CURRENT",
                    "der": der,
                    "revision": revision,
                    "crl_number": number,
                    "built_at": rfc3339(now),
                },
                condition=swap,
            )
        except ConditionFailed:
            continue  # another fetch stored a CRL meanwhile; start from it
        return der
    stored = table.get(partition, "CURRENT")
    if stored is None:
        raise RuntimeError("no CRL could be stored")
    return bytes(stored["der"].value)
