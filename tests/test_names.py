"""Specification of hostname hygiene (chalicelib/names.py)."""

from __future__ import annotations

import pytest

from chalicelib import names
from chalicelib.errors import BadRequest

LONG_NAME = (
    "a-very-long-service-name-for-the-billing-department.internal-apps.example.com"
)
NAME_OF_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])

# Inputs users type and the name that must reach the order, CSR and
# certificate. Distilled from field reports against other certificate tools.
ACCEPTED = [
    pytest.param("WWW.Example.COM", "www.example.com", id="upper-case-is-lowered"),
    pytest.param("example.com.", "example.com", id="one-trailing-root-dot-dropped"),
    pytest.param(
        "Bücher.Example.test",
        "xn--bcher-kva.example.test",
        id="idn-becomes-a-label",
    ),
    pytest.param(
        "xn--bcher-kva.example.test",
        "xn--bcher-kva.example.test",
        id="a-label-kept-as-is",
    ),
    pytest.param("*.example.com", "*.example.com", id="wildcard-left-most"),
    pytest.param(LONG_NAME, LONG_NAME, id="77-chars-is-a-fine-san"),
    # Further cases of the same kinds.
    pytest.param(
        "XN--BCHER-KVA.Example.Test",
        "xn--bcher-kva.example.test",
        id="upper-case-a-label-is-lowered",
    ),
    pytest.param("BÜCHER.example.test", "xn--bcher-kva.example.test", id="upper-idn"),
    pytest.param("example。com", "example.com", id="ideographic-full-stop-is-a-dot"),
    pytest.param("*.Example.COM.", "*.example.com", id="wildcard-with-root-dot"),
    pytest.param("a-b--c.example.com", "a-b--c.example.com", id="double-hyphen-late"),
    pytest.param("1.example.com", "1.example.com", id="numeric-left-label"),
    pytest.param("example.c0m", "example.c0m", id="tld-with-a-digit"),
    pytest.param(NAME_OF_253, NAME_OF_253, id="253-chars-is-the-limit"),
    pytest.param("a" * 63 + ".example.com", "a" * 63 + ".example.com", id="label-63"),
]

REFUSED = [
    pytest.param("example.com..", r"empty label", id="two-trailing-dots"),
    pytest.param(
        "www.*.example.com",
        r"wildcard may only be the whole left-most label",
        id="wildcard-in-the-middle",
    ),
    pytest.param(
        "*example.com",
        r"wildcard may only be the whole left-most label",
        id="partial-label-wildcard",
    ),
    pytest.param(
        "-edge.example.com",
        r"'-edge' starts with a hyphen",
        id="label-starts-with-hyphen",
    ),
    pytest.param(
        "edge-.example.com", r"'edge-' ends with a hyphen", id="label-ends-with-hyphen"
    ),
    pytest.param(
        "under_score.example.com", r"underscores are not allowed", id="underscore"
    ),
    pytest.param("ex ample.com", r"contains whitespace", id="inner-space"),
    pytest.param("localhost", r"single-label name", id="single-label"),
    pytest.param("192.0.2.10", r"an IP address is not a DNS name", id="ipv4-literal"),
    pytest.param(
        "a" * 65 + ".example.com",
        r"65 characters long, over the limit of 63",
        id="label-of-65",
    ),
    # Further cases of the same kinds.
    pytest.param(" example.com", r"contains whitespace", id="leading-space"),
    pytest.param("example.com\n", r"contains whitespace", id="trailing-newline"),
    pytest.param("a" * 64 + ".example.com", r"64 characters long", id="label-of-64"),
    pytest.param(
        NAME_OF_253 + "d", r"254 characters long, over the limit of 253", id="254-chars"
    ),
    pytest.param("x" * 2000, r"longer than 253 characters", id="huge-input"),
    pytest.param("", r"may not be empty", id="empty"),
    pytest.param(".", r"no labels", id="root-only"),
    pytest.param(".example.com", r"empty label", id="leading-dot"),
    pytest.param("*.com", r"at least two labels after", id="wildcard-over-a-tld"),
    pytest.param("*", r"at least two labels after", id="bare-wildcard"),
    pytest.param("*.*.example.com", r"whole left-most label", id="two-wildcards"),
    pytest.param("2001:db8::1", r"an IP address", id="ipv6-literal"),
    pytest.param("[2001:db8::1]", r"an IP address", id="bracketed-ipv6"),
    pytest.param("1.2.3", r"top-level label is all digits", id="numeric-tld"),
    pytest.param(
        "xn--abc.example.com",
        r"'xn--abc' is not a valid A-label",
        id="undecodable-a-label",
    ),
    pytest.param(
        "xn--g6h.example.com",
        r"not a valid A-label",
        id="a-label-of-a-symbol-idna2008-disallows",
    ),
    pytest.param(
        "ab--cd.example.com", r"'--' in a reserved position", id="reserved-r-ldh-label"
    ),
    pytest.param(
        "exa!mple.com", r"only contain letters, digits and hyphens", id="punctuation"
    ),
    pytest.param("exa\u202emple.com", r"not allowed in host names", id="bidi-override"),
    pytest.param("\u0634\u0661\u06f1.example", r"not a valid IDN", id="mixed-digits"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_normalize_name_accepts_and_canonicalizes(raw: str, expected: str) -> None:
    assert names.normalize_name(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_normalize_name_is_idempotent(raw: str, expected: str) -> None:
    assert names.normalize_name(expected) == expected


@pytest.mark.parametrize(("raw", "message"), REFUSED)
def test_normalize_name_refuses_with_a_sentence_naming_the_rule(
    raw: str, message: str
) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        names.normalize_name(raw)

    assert caught.value.code == "invalid_name"
    assert caught.value.message.endswith(".")


def test_refusal_quotes_the_input_first() -> None:
    with pytest.raises(BadRequest) as caught:
        names.normalize_name("www.*.example.com")

    assert caught.value.message == (
        "'www.*.example.com' is not a valid name: a wildcard may only be the "
        "whole left-most label."
    )


def test_refusal_quotes_at_most_100_characters_of_a_huge_input() -> None:
    with pytest.raises(BadRequest) as caught:
        names.normalize_name("x" * 5000)

    assert caught.value.message.startswith("'" + "x" * 100 + "'… (5000 characters)")
    assert len(caught.value.message) < 200


def test_refusal_escapes_control_characters_in_the_quote() -> None:
    with pytest.raises(BadRequest) as caught:
        names.normalize_name("evil\x1b[31m.example.com")

    assert "\x1b" not in caught.value.message
    assert "\\x1b" in caught.value.message


def test_normalize_name_refuses_a_value_that_is_not_a_string() -> None:
    with pytest.raises(BadRequest, match=r"must be a string"):
        names.normalize_name(42)  # type: ignore[arg-type]


def test_normalize_names_merges_the_same_name_typed_twice() -> None:
    assert names.normalize_names(["example.com", "EXAMPLE.com."]) == ["example.com"]


def test_normalize_names_keeps_the_order_of_first_appearance() -> None:
    typed = ["WWW.example.com", "example.com", "www.example.com.", "*.example.com"]

    assert names.normalize_names(typed) == [
        "www.example.com",
        "example.com",
        "*.example.com",
    ]


def test_normalize_names_accepts_100_names() -> None:
    typed = [f"host{index}.example.com" for index in range(100)]

    assert names.normalize_names(typed) == typed


def test_normalize_names_refuses_101_names() -> None:
    typed = [f"host{index}.example.com" for index in range(101)]

    with pytest.raises(
        BadRequest, match=r"at most 100 names; 101 were given"
    ) as caught:
        names.normalize_names(typed)
    assert caught.value.code == "too_many_names"


def test_normalize_names_counts_names_after_merging_duplicates() -> None:
    typed = [f"host{index}.example.com" for index in range(100)] + ["HOST0.example.com"]

    assert len(names.normalize_names(typed)) == 100


def test_normalize_names_refuses_an_empty_list() -> None:
    with pytest.raises(BadRequest, match=r"At least one name") as caught:
        names.normalize_names([])
    assert caught.value.code == "invalid_request"


def test_normalize_names_refuses_a_bare_string() -> None:
    with pytest.raises(BadRequest, match=r"must be a list") as caught:
        names.normalize_names("example.com")
    assert caught.value.code == "invalid_request"


def test_normalize_names_reports_the_first_bad_name() -> None:
    with pytest.raises(BadRequest, match=r"^'localhost' is not a valid name") as caught:
        names.normalize_names(["example.com", "localhost", "ex ample.com"])
    assert caught.value.code == "invalid_name"


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        pytest.param(["www.example.com", "example.com"], "www.example.com", id="first"),
        pytest.param([LONG_NAME, "example.com"], "example.com", id="skips-77-chars"),
        pytest.param([LONG_NAME], None, id="none-fits"),
        pytest.param(["a" * 52 + ".example.com"], "a" * 52 + ".example.com", id="64"),
        pytest.param(["a" * 53 + ".example.com"], None, id="65"),
    ],
)
def test_subject_common_name_is_the_first_name_within_64_chars(
    listed: list[str], expected: str | None
) -> None:
    assert names.subject_common_name(listed) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("*.example.com", True),
        ("example.com", False),
        ("www.example.com", False),
    ],
)
def test_is_wildcard(name: str, expected: bool) -> None:
    assert names.is_wildcard(name) is expected
