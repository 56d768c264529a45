"""Parse GS1 element strings from manufacturer barcodes (GS1-128, GS1 DataMatrix, QR, DataBar).

Accepted forms: raw data with GS (0x1D) as the FNC1 separator, optionally led by an AIM
symbology identifier (]C1, ]d2, ]Q3, ]e0) and/or a GS; and the human-readable form
"(01)09501101530003(17)261231(10)LOT42". Keyboard-wedge scanners often drop GS; then
variable-length fields are split by trying every end position, and the code is accepted only if
exactly one complete parse exists (flagged with ``separator_missing``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

__all__ = [
    "GS",
    "MAX_INPUT_LENGTH",
    "SYMBOLOGY_IDENTIFIERS",
    "Gs1Data",
    "Gs1Element",
    "Gs1Error",
    "gs1_check_digit",
    "looks_like_gs1",
    "parse_gs1",
]

GS: Final = "\x1d"
MAX_INPUT_LENGTH: Final = 200
SYMBOLOGY_IDENTIFIERS: Final = frozenset({"]C1", "]d2", "]Q3", "]e0"})

_DIGITS: Final = frozenset("0123456789")
_CSET82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
_EXCERPT_LIMIT: Final = 40
# Memoisation already bounds the search to about MAX_INPUT_LENGTH x 30 candidates; this budget
# is a backstop in case the AI table ever grows longer variable fields.
_MAX_STEPS: Final = 20_000


@dataclass(frozen=True, slots=True)
class _AiSpec:
    title: str
    length: int  # exact length if fixed, else the maximum
    fixed: bool
    numeric: bool
    check_digit: bool = False
    date: bool = False


# The one table of supported AIs. Every fixed-length AI here is in GS1's predefined-length list,
# so none of them is followed by a GS when encoded.
_SPECS: Final[Mapping[str, _AiSpec]] = MappingProxyType(
    {
        "00": _AiSpec("SSCC", 18, fixed=True, numeric=True, check_digit=True),
        "01": _AiSpec("GTIN", 14, fixed=True, numeric=True, check_digit=True),
        "02": _AiSpec("CONTENT", 14, fixed=True, numeric=True, check_digit=True),
        "10": _AiSpec("BATCH/LOT", 20, fixed=False, numeric=False),
        "11": _AiSpec("PROD DATE", 6, fixed=True, numeric=True, date=True),
        "17": _AiSpec("USE BY OR EXPIRY", 6, fixed=True, numeric=True, date=True),
        "21": _AiSpec("SERIAL", 20, fixed=False, numeric=False),
        "30": _AiSpec("VAR. COUNT", 8, fixed=False, numeric=True),
        "37": _AiSpec("COUNT", 8, fixed=False, numeric=True),
        "240": _AiSpec("ADDITIONAL ID", 30, fixed=False, numeric=False),
        "250": _AiSpec("SECONDARY SERIAL", 30, fixed=False, numeric=False),
        "8004": _AiSpec("GIAI", 30, fixed=False, numeric=False),
    }
)
_AI_LENGTHS: Final = tuple(sorted({len(ai) for ai in _SPECS}))
_HRI_AI: Final = re.compile(r"\(([0-9]{2,4})\)")
_HRI_KNOWN_AI: Final = re.compile(r"\((?:" + "|".join(_SPECS) + r")\)")


class Gs1Error(ValueError):
    """GS1 data that cannot be accepted; ``reason`` is readable at a scanner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class Gs1Element:
    """One application identifier with its value and GS1 data title."""

    ai: str
    value: str
    title: str


@dataclass(frozen=True, slots=True)
class Gs1Data:
    """Parsed GS1 elements in scan order.

    ``separator_missing`` is True when a variable-length field had to be split without its GS;
    the parse was unique, but callers may warn that the scanner is not sending GS.
    """

    elements: tuple[Gs1Element, ...]
    separator_missing: bool

    def value(self, ai: str) -> str | None:
        """Return the value of the first element with this AI, or None."""
        for element in self.elements:
            if element.ai == ai:
                return element.value
        return None

    @property
    def gtin(self) -> str | None:
        """GTIN-14 from AI (01)."""
        return self.value("01")

    @property
    def lot(self) -> str | None:
        """Batch or lot from AI (10)."""
        return self.value("10")

    @property
    def serial(self) -> str | None:
        """Serial number from AI (21)."""
        return self.value("21")

    @property
    def sscc(self) -> str | None:
        """Serial shipping container code from AI (00)."""
        return self.value("00")

    @property
    def giai(self) -> str | None:
        """Global individual asset identifier from AI (8004)."""
        return self.value("8004")

    @property
    def expiry(self) -> date | None:
        """Expiry from AI (17); day 00 means the last day of that month."""
        raw = self.value("17")
        return None if raw is None else _to_date(raw, end_of_month=True)

    @property
    def production_date(self) -> date | None:
        """Production date from AI (11); day 00 means the first day of that month."""
        raw = self.value("11")
        return None if raw is None else _to_date(raw, end_of_month=False)

    def hri(self) -> str:
        """Return the human-readable form, e.g. "(01)09501101530003(10)LOT42"."""
        return "".join(f"({e.ai}){e.value}" for e in self.elements)


def gs1_check_digit(digits: str) -> str:
    """Return the GS1 mod-10 check digit for ``digits`` (weights 3, 1, 3, ... from the right)."""
    if not digits or any(c not in _DIGITS for c in digits):
        raise ValueError("check digit needs a non-empty string of ASCII digits")
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(digits)))
    return str(-total % 10)


def _century(yy: int, today: date) -> int:
    """Return the century (e.g. 2000) for a 2-digit year by GS1's sliding window (GenSpecs 7.12).

    The resulting year lies between 49 years before and 50 years after ``today``'s year.
    """
    base = today.year - today.year % 100
    difference = yy - today.year % 100
    if difference >= 51:
        return base - 100
    if difference <= -50:
        return base + 100
    return base


def _to_date(yymmdd: str, *, end_of_month: bool, today: date | None = None) -> date:
    """Resolve YYMMDD (DD may be 00) to a date; raise ValueError if it is not a real date."""
    if len(yymmdd) != 6 or any(c not in _DIGITS for c in yymmdd):
        raise ValueError("date must be 6 digits YYMMDD")
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    year = _century(yy, today or date.today()) + yy
    if not 1 <= month <= 12:
        raise ValueError("month must be 01-12")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        return date(year, month, last if end_of_month else 1)
    if day > last:
        raise ValueError(f"day must be 00-{last:02d} in that month")
    return date(year, month, day)


def _excerpt(text: str) -> str:
    if len(text) > _EXCERPT_LIMIT:
        text = text[: _EXCERPT_LIMIT - 1] + "…"
    return repr(text)


def _value_error(ai: str, spec: _AiSpec, value: str) -> str | None:
    """Return why ``value`` is not valid for ``ai`` (length aside), or None if it is."""
    if spec.numeric:
        if any(c not in _DIGITS for c in value):
            return f"({ai}) must be digits, got {_excerpt(value)}"
    else:
        for c in value:
            if c not in _CSET82:
                return f"({ai}) contains {c!r}, which GS1 does not allow"
    if spec.check_digit:
        expected = gs1_check_digit(value[:-1])
        if value[-1] != expected:
            return f"({ai}) {value}: check digit is wrong (expected {expected})"
    if spec.date:
        try:
            _to_date(value, end_of_month=True)
        except ValueError as exc:
            return f"({ai}) {value} is not a real date YYMMDD: {exc}"
    return None


def _length_error(ai: str, spec: _AiSpec, value: str) -> str | None:
    if spec.fixed and len(value) != spec.length:
        return f"({ai}) needs exactly {spec.length} digits, got {len(value)}"
    if not value:
        return f"({ai}) is empty"
    if len(value) > spec.length:
        return f"({ai}) is longer than {spec.length} characters; is a GS separator missing?"
    return None


_Parse = tuple[tuple[Gs1Element, bool], ...]  # (element, ended without its GS)


class _RawParser:
    """Finds up to two complete parses of a raw element string, memoised by position."""

    def __init__(self, body: str, offset: int) -> None:
        self.body = body
        self.offset = offset  # where body starts in the caller's text, for messages
        self.has_gs = GS in body
        self.memo: dict[int, list[_Parse]] = {}
        self.steps = 0
        self.fail_at = -1
        self.fail_reason = "no data"

    def fail(self, pos: int, reason: str) -> None:
        # The failure furthest into the data is the most telling one.
        if pos > self.fail_at:
            self.fail_at, self.fail_reason = pos, reason

    def failure(self) -> Gs1Error:
        where = self.offset + self.fail_at + 1
        return Gs1Error(f"not readable as GS1 data at character {where}: {self.fail_reason}")

    def parses(self, pos: int = 0) -> list[_Parse]:
        if pos == len(self.body):
            return [()]
        cached = self.memo.get(pos)
        if cached is not None:
            return cached
        found: list[_Parse] = []
        for element, end, joined in self._candidates(pos):
            self.steps += 1
            if self.steps > _MAX_STEPS:
                raise Gs1Error(
                    "too many ways to split this code without GS separators; "
                    "rescan with a scanner that sends GS"
                )
            after = end + 1 if end < len(self.body) and self.body[end] == GS else end
            for tail in self.parses(after):
                found.append(((element, joined), *tail))
                if len(found) == 2:
                    break
            if len(found) == 2:
                break
        self.memo[pos] = found
        return found

    def _candidates(self, pos: int) -> Iterator[tuple[Gs1Element, int, bool]]:
        body = self.body
        ai = next((body[pos : pos + n] for n in _AI_LENGTHS if body[pos : pos + n] in _SPECS), None)
        if ai is None:
            if body[pos] == GS:
                self.fail(pos, "unexpected GS separator (empty element)")
            else:
                self.fail(pos, f"unknown or unsupported AI in {_excerpt(body[pos : pos + 4])}")
            return
        spec = _SPECS[ai]
        start = pos + len(ai)
        if spec.fixed:
            value = body[start : start + spec.length]
            problem = _length_error(ai, spec, value) or _value_error(ai, spec, value)
            if problem:
                self.fail(pos, problem)
                return
            yield Gs1Element(ai, value, spec.title), start + len(value), False
            return
        allowed = _DIGITS if spec.numeric else _CSET82
        end = start
        # With GS present the field runs to the next GS; without, it may end anywhere.
        limit = len(body) if self.has_gs else min(len(body), start + spec.length)
        while end < limit and body[end] in allowed:
            end += 1
        stopped_on_bad = end < len(body) and body[end] != GS and end < limit
        if stopped_on_bad:
            self.fail(end, f"character {body[end]!r} is not allowed in ({ai})")
        elif end == limit < len(body) and body[end] in allowed:
            # Recorded before any tail is tried, so it wins over the tail's failure at this spot.
            self.fail(end, f"({ai}) has more than {spec.length} characters")
        if self.has_gs:
            value = body[start:end]
            problem = _length_error(ai, spec, value)
            if problem is not None:
                self.fail(pos, problem)
            elif not stopped_on_bad:
                yield Gs1Element(ai, value, spec.title), end, False
            return
        if end == start:
            self.fail(pos, f"({ai}) is empty")
            return
        for stop in range(start + 1, end + 1):
            yield Gs1Element(ai, body[start:stop], spec.title), stop, stop < len(body)


def _ambiguity(first: _Parse, second: _Parse) -> Gs1Error:
    for (a, _), (b, _) in zip(first, second, strict=False):
        if a != b:
            short, long = sorted((a.value, b.value), key=len)
            return Gs1Error(
                f"ambiguous without GS separators: ({a.ai}) could end after {short!r} "
                f"or {long!r}; rescan with a scanner that sends GS"
            )
    # Two distinct complete parses must differ somewhere; kept for the type checker.
    raise AssertionError("parses are identical")


def _check_repeats(elements: tuple[Gs1Element, ...]) -> None:
    seen: dict[str, str] = {}
    for element in elements:
        previous = seen.setdefault(element.ai, element.value)
        if previous != element.value:
            raise Gs1Error(f"({element.ai}) appears twice with different values")


def _parse_raw(body: str, offset: int) -> Gs1Data:
    parser = _RawParser(body, offset)
    found = parser.parses()
    if not found:
        raise parser.failure()
    if len(found) > 1:
        raise _ambiguity(found[0], found[1])
    elements = tuple(element for element, _ in found[0])
    _check_repeats(elements)
    return Gs1Data(elements, separator_missing=any(joined for _, joined in found[0]))


def _parse_hri(text: str) -> Gs1Data:
    elements: list[Gs1Element] = []
    pos = 0
    while pos < len(text):
        match = _HRI_AI.match(text, pos)
        if match is None:
            raise Gs1Error(f"expected '(AI)' at character {pos + 1}, found {_excerpt(text[pos:])}")
        ai = match.group(1)
        spec = _SPECS.get(ai)
        if spec is None:
            raise Gs1Error(f"unknown or unsupported AI ({ai}) at character {pos + 1}")
        start = match.end()
        while start < len(text) and text[start] == " ":
            start += 1
        # A "(" is only taken as the next element when it opens a supported AI.
        following = _HRI_KNOWN_AI.search(text, start)
        end = len(text) if following is None else following.start()
        if spec.fixed:
            end = min(end, start + spec.length)
        value = text[start:end].rstrip(" ")
        problem = _length_error(ai, spec, value) or _value_error(ai, spec, value)
        if problem:
            raise Gs1Error(f"not readable as GS1 data at character {pos + 1}: {problem}")
        elements.append(Gs1Element(ai, value, spec.title))
        pos = end
        while pos < len(text) and text[pos] == " ":
            pos += 1
    result = tuple(elements)
    _check_repeats(result)
    return Gs1Data(result, separator_missing=False)


def _split_framing(text: str) -> tuple[str, int]:
    """Drop a GS1 symbology identifier and a leading GS; return the body and its offset."""
    offset = 0
    if text.startswith("]"):
        symbology = text[:3]
        if symbology not in SYMBOLOGY_IDENTIFIERS:
            raise Gs1Error(f"symbology identifier {_excerpt(symbology)} is not a GS1 barcode")
        offset = 3
    if text.startswith(GS, offset):
        offset += 1
    return text[offset:], offset


def parse_gs1(text: str) -> Gs1Data:
    """Parse a scanned GS1 element string (raw or "(AI)value" form), or raise Gs1Error."""
    if not text:
        raise Gs1Error("empty scan: no data was read")
    if len(text) > MAX_INPUT_LENGTH:
        raise Gs1Error(
            f"code is {len(text)} characters long; GS1 data is accepted up to {MAX_INPUT_LENGTH}"
        )
    if text.startswith("("):
        return _parse_hri(text)
    body, offset = _split_framing(text)
    if not body:
        raise Gs1Error("no GS1 data in the scan, only framing characters")
    return _parse_raw(body, offset)


def looks_like_gs1(text: str) -> bool:
    """Cheaply guess whether a scan is GS1 data, to route it away from the internal-ID parser."""
    if text.startswith(("(", GS)) or text[:3] in SYMBOLOGY_IDENTIFIERS:
        return True
    if GS in text:
        return True
    if not text or len(text) > MAX_INPUT_LENGTH:
        return False
    if not any(text[:n] in _SPECS for n in _AI_LENGTHS):
        return False
    if any(c not in _CSET82 for c in text):
        return False
    try:
        # An ambiguous code is still GS1; routing it here gets the better "rescan" message.
        return bool(_RawParser(text, 0).parses())
    except Gs1Error:
        return False
