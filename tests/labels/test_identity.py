"""Tests for labels.identity: the internal ID scheme and its error detection."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import identity
from labels.identity import (
    ALPHABET,
    ID_LENGTH,
    PREFIXES,
    InvalidId,
    Kind,
    ParsedId,
    check_character,
    describe_kind,
    is_valid_id,
    kind_of_prefix,
    make_id,
    new_id,
    normalize_typed,
    parse_id,
)

kinds = st.sampled_from(list(Kind))
bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)
# Characters a scanner or keyboard might produce that are not in the alphabet.
outside = st.characters(codec="utf-8").filter(lambda c: c not in ALPHABET)


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    return make_id(draw(kinds), draw(bodies))


def _code(text: str) -> str:
    with pytest.raises(InvalidId) as info:
        parse_id(text)
    return info.value.code


def test_alphabet_is_31_unambiguous_symbols() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 31
    assert not set("ILOUS") & set(ALPHABET)


def test_weight_arithmetic_detects_all_single_errors() -> None:
    weights = identity._WEIGHTS
    assert len(weights) == ID_LENGTH
    for i, w in enumerate(weights):
        for delta in range(1, 31):
            assert delta * w % 31 != 0
            if i + 1 < len(weights):
                assert delta * (w - weights[i + 1]) % 31 != 0


def test_prefixes_are_complete_unique_and_from_alphabet() -> None:
    assert set(PREFIXES) == set(Kind)
    assert len(set(PREFIXES.values())) == len(Kind)
    for kind, prefix in PREFIXES.items():
        assert len(prefix) == 2
        assert set(prefix) <= set(ALPHABET)
        assert kind_of_prefix(prefix) is kind
    assert kind_of_prefix("QQ") is None
    assert PREFIXES[Kind.SPECIMEN_BOX] == "BX"
    assert PREFIXES[Kind.PACK] == "PK"


@given(kinds, bodies)
def test_round_trip(kind: Kind, body: str) -> None:
    text = make_id(kind, body)
    assert len(text) == ID_LENGTH
    assert text.startswith(PREFIXES[kind] + body)
    assert parse_id(text) == ParsedId(kind, body, text)
    assert parse_id(text, kind) == ParsedId(kind, body, text)
    assert is_valid_id(text)


@settings(max_examples=200)
@given(valid_ids(), st.lists(outside, min_size=1, max_size=5))
def test_every_single_substitution_is_rejected(text: str, strangers: list[str]) -> None:
    for i, original in enumerate(text):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            mutated = text[:i] + replacement + text[i + 1 :]
            expected = {"unknown_prefix", "bad_check"} if i < 2 else {"bad_check"}
            assert _code(mutated) in expected, mutated
        for replacement in [*strangers, original.lower()]:
            if replacement == original:
                continue  # digits have no lowercase
            mutated = text[:i] + replacement + text[i + 1 :]
            assert _code(mutated) == "bad_character", mutated


@settings(max_examples=200)
@given(valid_ids())
def test_every_adjacent_transposition_is_rejected(text: str) -> None:
    for i in range(len(text) - 1):
        if text[i] == text[i + 1]:
            continue
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        assert not is_valid_id(swapped), swapped


@given(valid_ids(), kinds)
def test_wrong_kind_is_reported_readably(text: str, expected: Kind) -> None:
    actual = parse_id(text).kind
    if expected is actual:
        return
    with pytest.raises(InvalidId) as info:
        parse_id(text, expected)
    assert info.value.code == "wrong_kind"
    assert (
        info.value.reason
        == f"{text} is {describe_kind(actual)}, expected {describe_kind(expected)}"
    )
    assert str(info.value) == info.value.reason


def test_wrong_kind_lists_all_expected_kinds() -> None:
    text = make_id(Kind.PACK, "7K3M9Q2P")
    with pytest.raises(InvalidId) as info:
        parse_id(text, [Kind.SPECIMEN_BOX, Kind.INSTRUMENT_SET])
    assert info.value.reason == f"{text} is a pack, expected a specimen box or an instrument set"
    assert parse_id(text, {Kind.PACK, Kind.SITE}).kind is Kind.PACK
    assert is_valid_id(text, Kind.PACK)
    assert not is_valid_id(text, Kind.SITE)


def test_empty_expected_collection_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        parse_id(make_id(Kind.PACK, "00000000"), [])


def test_megabyte_input_gives_short_reason() -> None:
    with pytest.raises(InvalidId) as info:
        parse_id("BX" * 500_000)
    assert info.value.code == "bad_length"
    assert len(info.value.reason) < 120
    assert "1000000" in info.value.reason


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("BX1234", "bad_length"),
        (" BX123456789", "bad_length"),  # no whitespace stripping: 12 characters
        ("bx12345678a", "bad_character"),  # no case folding
        ("BX1234567O8", "bad_character"),
        ("BX12345\x1d789", "bad_character"),
        ("QQ12345678X", "unknown_prefix"),
        ("QQ1234567#X", "bad_character"),  # characters are checked before the prefix
    ],
)
def test_rejections(text: str, code: str) -> None:
    assert _code(text) == code


def test_check_order_prefix_before_check_and_check_before_kind() -> None:
    good = make_id(Kind.PACK, "7K3M9Q2P")
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidId) as info:
        parse_id(bad_check, Kind.SITE)
    assert info.value.code == "bad_check"
    assert info.value.reason == f"{bad_check}: check character is wrong (misread or mistyped code)"


def test_bad_character_reason_names_position_and_hint() -> None:
    with pytest.raises(InvalidId) as info:
        parse_id("BX7k3M9Q2P5")
    assert "position 4" in info.value.reason
    assert "lowercase" in info.value.reason
    with pytest.raises(InvalidId) as info:
        parse_id("BX7K3M9Q2PS")
    assert "never used" in info.value.reason


def test_check_character_and_make_id_validate_input() -> None:
    payload = "BX7K3M9Q2P"
    assert is_valid_id(payload + check_character(payload))
    for bad, code in [("BX7K3M9Q2", "bad_length"), ("BX7K3M9Q2O", "bad_character")]:
        with pytest.raises(InvalidId) as info:
            check_character(bad)
        assert info.value.code == code
    for body, code in [("1234567", "bad_length"), ("1234567U", "bad_character")]:
        with pytest.raises(InvalidId) as info:
            make_id(Kind.SITE, body)
        assert info.value.code == code


def test_new_id_is_valid_and_reproducible_with_seed() -> None:
    for kind in Kind:
        assert parse_id(new_id(kind)).kind is kind
    first = [new_id(Kind.DEVICE, random.Random(42)) for _ in range(3)]
    assert len(set(first)) == 1
    assert first[0] == new_id(Kind.DEVICE, random.Random(42))
    assert new_id(Kind.DEVICE, random.Random(43)) != first[0]


def test_normalize_typed() -> None:
    text = make_id(Kind.SPECIMEN_BOX, "10000000")
    typed = " bx-i000 oooo " + text[-1].lower() + "\t"
    assert normalize_typed(typed) == text
    assert normalize_typed("bl–01") == "B101"
    assert not is_valid_id(typed)  # parse_id itself never normalises
