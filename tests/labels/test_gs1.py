"""Tests for labels.gs1: GS1 element strings, with and without GS separators."""

from __future__ import annotations

import contextlib
import time
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from labels import gs1
from labels.gs1 import GS, Gs1Data, Gs1Element, Gs1Error, gs1_check_digit, looks_like_gs1, parse_gs1
from labels.identity import Kind, make_id

# Written out independently of the module so a typo there is caught.
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
GTIN = "09501101530003"
TODAY = date.today()

# ai -> (title, fixed length or None, max length, kind of value)
AIS: dict[str, tuple[str, int | None, int, str]] = {
    "00": ("SSCC", 18, 18, "check"),
    "01": ("GTIN", 14, 14, "check"),
    "02": ("CONTENT", 14, 14, "check"),
    "10": ("BATCH/LOT", None, 20, "text"),
    "11": ("PROD DATE", 6, 6, "date"),
    "17": ("USE BY OR EXPIRY", 6, 6, "date"),
    "21": ("SERIAL", None, 20, "text"),
    "30": ("VAR. COUNT", None, 8, "digits"),
    "37": ("COUNT", None, 8, "digits"),
    "240": ("ADDITIONAL ID", None, 30, "text"),
    "250": ("SECONDARY SERIAL", None, 30, "text"),
    "8004": ("GIAI", None, 30, "text"),
}


def _error(text: str) -> str:
    with pytest.raises(Gs1Error) as info:
        parse_gs1(text)
    assert str(info.value) == info.value.reason
    return info.value.reason


def _hri(text: str) -> str:
    return parse_gs1(text).hri()


# --- check digits and dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("0950110153000", "3"), ("400638133393", "1"), ("10614141123456789", "7"), ("0", "0")],
)
def test_check_digit_known_values(payload: str, digit: str) -> None:
    assert gs1_check_digit(payload) == digit


@pytest.mark.parametrize("bad", ["", "12a", "１２３"])
def test_check_digit_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        gs1_check_digit(bad)


@pytest.mark.parametrize(
    ("yy", "today", "year"),
    [
        (75, date(2025, 6, 1), 2075),
        (76, date(2025, 6, 1), 1976),
        (0, date(2025, 6, 1), 2000),
        (30, date(2080, 1, 1), 2130),
        (31, date(2080, 1, 1), 2031),
        (99, date(2000, 1, 1), 1999),
        (50, date(2000, 1, 1), 2050),
    ],
)
def test_century_sliding_window(yy: int, today: date, year: int) -> None:
    assert gs1._century(yy, today) + yy == year


@given(st.integers(0, 99), st.dates(min_value=date(1900, 1, 1), max_value=date(9800, 12, 31)))
def test_century_window_is_minus_49_to_plus_50(yy: int, today: date) -> None:
    year = gs1._century(yy, today) + yy
    assert year % 100 == yy
    assert today.year - 49 <= year <= today.year + 50


# --- known vectors ----------------------------------------------------------------------------


def test_gs_separated() -> None:
    data = parse_gs1(f"01{GTIN}1726123110LOT42{GS}21SN0001")
    assert data.elements == (
        Gs1Element("01", GTIN, "GTIN"),
        Gs1Element("17", "261231", "USE BY OR EXPIRY"),
        Gs1Element("10", "LOT42", "BATCH/LOT"),
        Gs1Element("21", "SN0001", "SERIAL"),
    )
    assert not data.separator_missing
    assert data.gtin == GTIN
    assert data.lot == "LOT42"
    assert data.serial == "SN0001"
    assert data.expiry == date(2026, 12, 31)
    assert data.production_date is None
    assert data.sscc is None
    assert data.giai is None
    assert data.hri() == f"(01){GTIN}(17)261231(10)LOT42(21)SN0001"


@pytest.mark.parametrize("framing", ["]C1", "]d2", "]Q3", "]e0", GS, "]C1" + GS, "]d2" + GS])
def test_symbology_identifier_and_leading_gs(framing: str) -> None:
    assert _hri(f"{framing}01{GTIN}10LOT42{GS}21SN1") == f"(01){GTIN}(10)LOT42(21)SN1"


def test_trailing_gs_and_gs_after_fixed_fields_are_tolerated() -> None:
    assert _hri(f"01{GTIN}{GS}10LOT42{GS}") == f"(01){GTIN}(10)LOT42"


def test_human_readable_form() -> None:
    data = parse_gs1(f"(01){GTIN}(17)261231(10)LOT42")
    assert data.hri() == f"(01){GTIN}(17)261231(10)LOT42"
    assert not data.separator_missing
    spaced = parse_gs1(f"(01) {GTIN} (17) 261231 (10) LOT(4)2")
    assert spaced.lot == "LOT(4)2"  # "(" only starts an element when it opens a known AI


def test_gs_dropped_but_unambiguous() -> None:
    data = parse_gs1(f"01{GTIN}" + "17261231" + "10LOT42")
    assert data.hri() == f"(01){GTIN}(17)261231(10)LOT42"
    assert not data.separator_missing  # the variable field is last: no GS was needed
    joined = parse_gs1(f"01{GTIN}30123" + "10AB")
    assert joined.hri() == f"(01){GTIN}(30)123(10)AB"
    assert joined.separator_missing


@pytest.mark.parametrize(
    ("text", "short", "long"),
    [
        ("10LOT4221SN0001", "LOT42", "LOT4221SN0001"),
        ("10ABC17261231", "ABC", "ABC17261231"),
        (f"01{GTIN}3712341021X", "1234", "123410"),
    ],
)
def test_gs_dropped_and_ambiguous(text: str, short: str, long: str) -> None:
    reason = _error(text)
    assert reason.startswith("ambiguous without GS separators")
    assert f"{short!r} or {long!r}" in reason
    assert "rescan" in reason


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f"01{GTIN[:-1]}4", "check digit is wrong (expected 3)"),
        (f"(01){GTIN[:-1]}4", "check digit is wrong"),
        (f"01{GTIN}17261332", "(17) 261332 is not a real date"),
        (f"01{GTIN}17260230", "(17) 260230 is not a real date"),
        (f"01{GTIN}99123", "unknown or unsupported AI"),
        ("(99)123", "unknown or unsupported AI (99)"),
        ("0109501101", "needs exactly 14 digits, got 8"),
        ("(01)0950(17)261231", "needs exactly 14 digits, got 4"),
        (f"01{GTIN}10LOT#42", "'#' is not allowed in (10)"),
        (f"10{'A' * 21}{GS}21X", "(10) is longer than 20"),
        (f"8004{'A' * 32}", "(8004) has more than 30"),
        (f"10AB{GS}{GS}21X", "unexpected GS"),
        (f"01{GTIN}10A{GS}10B", "(10) appears twice"),
        (f"01{GTIN}30{GS}10A", "(30) is empty"),
        ("]C0123", "not a GS1 barcode"),
        ("]C1", "no GS1 data"),
        ("", "empty scan"),
    ],
)
def test_rejections(text: str, fragment: str) -> None:
    assert fragment in _error(text)


def test_only_cset82_is_accepted_in_text_fields() -> None:
    for code in range(0x20, 0x7F):
        char = chr(code)
        if char in CSET82:
            assert parse_gs1(f"01{GTIN}10A{char}").lot == f"A{char}"
        else:
            assert f"{char!r} is not allowed in (10)" in _error(f"01{GTIN}10A{char}")


def test_failure_names_position() -> None:
    assert _error(f"]C101{GTIN}17261332").startswith(
        "not readable as GS1 data at character 20: (17)"
    )


def test_expiry_day_00_means_end_of_month() -> None:
    assert parse_gs1(f"01{GTIN}17261100").expiry == date(2026, 11, 30)
    assert parse_gs1(f"01{GTIN}17280200").expiry == date(2028, 2, 29)
    assert parse_gs1(f"01{GTIN}11260200").production_date == date(2026, 2, 1)


def test_overlong_input_is_rejected_briefly() -> None:
    reason = _error("01" * 500_000)
    assert "1000000" in reason
    assert len(reason) < 100


def test_hostile_input_is_fast() -> None:
    started = time.perf_counter()
    hostile = ["10" * 100, "21" * 100, "1021" * 50, "10" + "1" * 198, "8004" + "0" * 196, "3" * 200]
    for text in hostile:
        with contextlib.suppress(Gs1Error):
            parse_gs1(text)
    assert time.perf_counter() - started < 2


def test_search_budget_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gs1, "_MAX_STEPS", 3)
    assert "too many ways" in _error("10ABC17261231")


def test_supported_ais_are_prefix_free() -> None:
    # The parser relies on this to read the AI at a position without guessing.
    ais = list(AIS)
    assert set(ais) == set(gs1._SPECS)
    for a in ais:
        for b in ais:
            assert a == b or not b.startswith(a)


def test_looks_like_gs1() -> None:
    assert looks_like_gs1(f"]C101{GTIN}")
    assert looks_like_gs1(f"(01){GTIN}")
    assert looks_like_gs1(f"01{GTIN}10A{GS}21B")
    assert looks_like_gs1(f"01{GTIN}17261231")
    assert looks_like_gs1("10LOT4221SN0001")  # ambiguous, but still GS1
    assert not looks_like_gs1("")
    assert not looks_like_gs1("hello")
    assert not looks_like_gs1("4006381333931")  # plain EAN-13
    assert not looks_like_gs1("1" * 1_000_000)
    for kind in Kind:
        assert not looks_like_gs1(make_id(kind, "01234567"))


# --- properties -------------------------------------------------------------------------------

digits = "0123456789"
years = st.integers(TODAY.year - 49, TODAY.year + 50)


def _value(ai: str, charset: str) -> st.SearchStrategy[str]:
    _, fixed, maximum, kind = AIS[ai]
    if kind == "check":
        assert fixed is not None
        return st.text(digits, min_size=fixed - 1, max_size=fixed - 1).map(
            lambda d: d + gs1_check_digit(d)
        )
    if kind == "date":
        real = st.dates(date(TODAY.year - 49, 1, 1), date(TODAY.year + 50, 12, 31))
        month_only = st.tuples(years, st.integers(1, 12)).map(lambda ym: date(ym[0], ym[1], 1))
        return st.one_of(
            real.map(lambda d: d.strftime("%y%m%d")),
            month_only.map(lambda d: d.strftime("%y%m00")),
        )
    alphabet = digits if kind == "digits" else charset
    return st.text(alphabet, min_size=1, max_size=maximum)


@st.composite
def element_lists(draw: st.DrawFn, charset: str = CSET82) -> list[Gs1Element]:
    ais = draw(st.lists(st.sampled_from(list(AIS)), min_size=1, max_size=6, unique=True))
    return [Gs1Element(ai, draw(_value(ai, charset)), AIS[ai][0]) for ai in ais]


def _encode(elements: list[Gs1Element], *, with_gs: bool) -> str:
    parts = []
    for i, e in enumerate(elements):
        parts.append(e.ai + e.value)
        if with_gs and AIS[e.ai][1] is None and i < len(elements) - 1:
            parts.append(GS)
    return "".join(parts)


def _needs_gs(elements: list[Gs1Element]) -> bool:
    return any(AIS[e.ai][1] is None for e in elements[:-1])


@settings(max_examples=300)
@given(element_lists(), st.sampled_from(["", "]C1", "]d2", "]Q3", "]e0", GS, "]C1" + GS]))
def test_round_trip_with_gs(elements: list[Gs1Element], framing: str) -> None:
    # Without any GS in the data the scanner may have dropped them; that case is tested below.
    assume(_needs_gs(elements))
    text = framing + _encode(elements, with_gs=True)
    if len(text) > gs1.MAX_INPUT_LENGTH:
        assert "accepted up to" in _error(text)
        return
    assert parse_gs1(text) == Gs1Data(tuple(elements), separator_missing=False)


@settings(max_examples=300)
@given(element_lists(charset=CSET82.replace("(", "")))
def test_round_trip_through_hri(elements: list[Gs1Element]) -> None:
    text = "".join(f"({e.ai}){e.value}" for e in elements)
    if len(text) <= gs1.MAX_INPUT_LENGTH:
        assert parse_gs1(text) == Gs1Data(tuple(elements), separator_missing=False)
        assert parse_gs1(text).hri() == text


@settings(max_examples=500)
@given(element_lists())
def test_dropping_gs_never_yields_a_different_parse(elements: list[Gs1Element]) -> None:
    text = _encode(elements, with_gs=False)
    if len(text) > gs1.MAX_INPUT_LENGTH:
        return
    try:
        data = parse_gs1(text)
    except Gs1Error as exc:
        assert exc.reason.startswith("ambiguous without GS separators"), exc.reason
        assert looks_like_gs1(text)
        return
    assert data.elements == tuple(elements)
    assert data.separator_missing == _needs_gs(elements)
    assert looks_like_gs1(text)
