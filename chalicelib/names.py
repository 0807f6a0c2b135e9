"""Hostname hygiene: turn what a user typed into the name a certificate carries.

Every DNS name that reaches an order, a CSR check or a certificate passes
through :func:`normalize_name` first, so that the same host is always spelled
the same way: lowercase, without the trailing root dot, IDNs as A-labels
(UTS-46 mapping, then IDNA2008), and only names a publicly trusted CA could
put in a dNSName SAN. Anything else is refused with ``BadRequest`` and a
sentence that quotes the input and names the rule it breaks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import NoReturn

import idna

from chalicelib.errors import BadRequest

# SSLMate caps a certificate at 100 names; the CA/B Forum Baseline
# Requirements set no limit, but every name costs a validation and bytes in
# each TLS handshake, so we keep the cap users already know.
MAX_NAMES = 100

# RFC 1035 §2.3.4 limits a name to 255 octets on the wire, which is 253
# characters in text form without the trailing dot.
MAX_NAME_LENGTH = 253

# RFC 1035 §2.3.4: a label is 63 octets or less.
MAX_LABEL_LENGTH = 63

# RFC 5280 Appendix A: ub-common-name INTEGER ::= 64.
MAX_COMMON_NAME_LENGTH = 64

# UTS-46 mapping may drop characters (soft hyphens, joiners), so a raw input
# may be somewhat longer than the name it becomes; past this size it cannot
# be a name, and we refuse it before spending any work on it.
_MAX_INPUT_LENGTH = 1024

# How much of a refused input we quote back in an error message.
_ECHO_LENGTH = 100

_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_WILDCARD_LABEL = "*"


def normalize_name(raw: str) -> str:
    """Return the canonical form of one DNS name, or raise ``BadRequest``.

    The canonical form is lowercase, has no trailing dot, spells IDNs as
    A-labels and is at most 253 characters of LDH labels of 1 to 63
    characters. A wildcard ``*`` is allowed only as the whole left-most label
    of a name with at least two more labels. Single-label names, IP address
    literals and names whose top-level label is all digits are refused. The
    function is idempotent: a canonical name normalizes to itself.

    Raises ``BadRequest("invalid_name", ...)`` with a message that quotes the
    (truncated, escaped) input and names the rule it breaks.
    """
    if not isinstance(raw, str):
        raise BadRequest("invalid_name", "A name must be a string.")
    if raw == "":
        raise BadRequest("invalid_name", "A name may not be empty.")
    if len(raw) > _MAX_INPUT_LENGTH:
        _refuse(raw, f"it is longer than {MAX_NAME_LENGTH} characters")
    if any(character.isspace() for character in raw):
        _refuse(raw, "it contains whitespace")

    mapped = _uts46_map(raw)

    # One trailing dot names the DNS root and is dropped; a second one would
    # leave an empty label and is refused below.
    if mapped.endswith("."):
        mapped = mapped[:-1]
    if mapped == "":
        _refuse(raw, "it has no labels")
    if _is_ip_address(mapped):
        _refuse(raw, "an IP address is not a DNS name")

    labels = mapped.split(".")
    _check_wildcard(raw, labels)
    a_labels = [
        label if label == _WILDCARD_LABEL else _to_a_label(raw, label)
        for label in labels
    ]

    name = ".".join(a_labels)
    if len(name) > MAX_NAME_LENGTH:
        _refuse(
            raw,
            f"it is {len(name)} characters long, over the limit of "
            f"{MAX_NAME_LENGTH} (RFC 1035)",
        )
    if a_labels[-1].isdigit():
        _refuse(raw, "its top-level label is all digits, which no TLD is")
    return name


def normalize_names(raw: Sequence[str]) -> list[str]:
    """Normalize a list of names, keeping their order and merging duplicates.

    Two inputs that normalize to the same name (``example.com`` and
    ``EXAMPLE.com.``) count once, at the position of the first. Raises
    ``BadRequest("invalid_request", ...)`` for an empty list or a value that
    is not a list of strings, ``BadRequest("too_many_names", ...)`` when more
    than ``MAX_NAMES`` distinct names remain, and whatever
    :func:`normalize_name` raises for a bad name.
    """
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise BadRequest("invalid_request", "Names must be a list of strings.")
    if len(raw) == 0:
        raise BadRequest("invalid_request", "At least one name is required.")

    names: list[str] = []
    seen: set[str] = set()
    for item in raw:
        name = normalize_name(item)
        if name in seen:
            continue
        seen.add(name)
        names.append(name)
        if len(names) > MAX_NAMES:
            raise BadRequest(
                "too_many_names",
                f"A certificate may have at most {MAX_NAMES} names; "
                f"{len(raw)} were given.",
            )
    return names


def subject_common_name(names: Sequence[str]) -> str | None:
    """Return the name to put in the subject CN, or ``None`` for no CN.

    That is the first of ``names`` (already normalized) that fits the
    64-character upper bound of RFC 5280; when none fits, the certificate has
    an empty subject and relies on its SAN extension alone, as RFC 5280
    §4.2.1.6 allows.
    """
    for name in names:
        if len(name) <= MAX_COMMON_NAME_LENGTH:
            return name
    return None


def is_wildcard(name: str) -> bool:
    """Tell whether a normalized name is a wildcard (``*.example.com``)."""
    return name.startswith(_WILDCARD_LABEL + ".")


def quote(raw: str) -> str:
    """Quote user input for an error message: escaped like ``repr`` (so control
    and bidi characters show as escapes) and cut to about 100 characters."""
    if len(raw) <= _ECHO_LENGTH:
        return repr(raw)
    return f"{raw[:_ECHO_LENGTH]!r}… ({len(raw)} characters)"


def _uts46_map(raw: str) -> str:
    # Mapping the whole name first (not label by label) lets full-width and
    # ideographic dots separate labels as UTS-46 §4 intends. STD3 rules stay
    # off here so that "*" and "_" reach our own checks, which explain them.
    try:
        return idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except idna.IDNAError:
        _refuse(raw, "it contains a character that is not allowed in host names")


def _check_wildcard(raw: str, labels: list[str]) -> None:
    for index, label in enumerate(labels):
        if label == "":
            _refuse(raw, "it has an empty label (two dots in a row, or a leading dot)")
        if "*" in label and (index != 0 or label != _WILDCARD_LABEL):
            _refuse(raw, "a wildcard may only be the whole left-most label")

    base = labels[1:] if labels[0] == _WILDCARD_LABEL else labels
    if len(base) < 2:
        if labels[0] == _WILDCARD_LABEL:
            # TODO: refuse wildcards directly under any public suffix
            # (*.co.uk), as CA/B BR §3.2.2.6 asks, once we ship the Public
            # Suffix List; today only single-label bases are caught.
            _refuse(raw, "a wildcard needs at least two labels after '*.'")
        _refuse(raw, "a single-label name is not a public host name")


def _to_a_label(raw: str, label: str) -> str:
    if "_" in label:
        _refuse(raw, "underscores are not allowed in host names")
    if label.startswith("-"):
        _refuse(raw, f"the label {quote(label)} starts with a hyphen")
    if label.endswith("-"):
        _refuse(raw, f"the label {quote(label)} ends with a hyphen")

    if label.isascii():
        a_label = label
        if a_label.startswith("xn--"):
            _check_a_label(raw, a_label)
        elif a_label[2:4] == "--":
            # RFC 5890 §2.3.1: "??--" labels are reserved for future
            # encodings; only "xn--" has a meaning today.
            _refuse(raw, f"the label {quote(label)} has '--' in a reserved position")
    else:
        try:
            a_label = idna.encode(label).decode("ascii")
        except idna.IDNAError:
            _refuse(raw, f"the label {quote(label)} is not a valid IDN (IDNA2008)")

    if len(a_label) > MAX_LABEL_LENGTH:
        _refuse(
            raw,
            f"a label is {len(a_label)} characters long, over the limit of "
            f"{MAX_LABEL_LENGTH} (RFC 1035)",
        )
    if not _LDH_LABEL.fullmatch(a_label):
        _refuse(raw, "a label may only contain letters, digits and hyphens")
    return a_label


def _check_a_label(raw: str, label: str) -> None:
    # An A-label must decode to a valid U-label that encodes back to exactly
    # itself (RFC 5891 §5.4); anything else is a "fake A-label".
    try:
        round_trip = idna.encode(idna.decode(label)).decode("ascii")
    except idna.IDNAError:
        round_trip = None
    if round_trip != label:
        _refuse(raw, f"the label {quote(label)} is not a valid A-label (IDNA2008)")


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _refuse(raw: str, rule: str) -> NoReturn:
    raise BadRequest("invalid_name", f"{quote(raw)} is not a valid name: {rule}.")
