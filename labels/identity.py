"""Internal barcode identities: 2-letter kind prefix + 8-character body + 1 check character.

Every ID is 11 characters from ALPHABET (31 symbols, a prime), e.g. ``BX7K3M9Q2P5``. The whole
string satisfies sum(w_i * value(s_i)) == 0 (mod 31) with w_i = 2**(i+1) mod 31.

Why this catches every single substitution and every adjacent transposition: replacing value a
by b at position i changes the sum by (a - b) * w_i, which is nonzero mod 31 because 0 < |a - b|
< 31 and w_i != 0 and 31 is prime. Swapping distinct neighbours a, b at i, i+1 changes it by
(a - b) * (w_i - w_{i+1}), nonzero because consecutive powers of 2 mod 31 (period 5) differ.
Characters outside the alphabet are rejected before the check is computed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALPHABET",
    "BODY_LENGTH",
    "ID_LENGTH",
    "PREFIXES",
    "PREFIX_LENGTH",
    "InvalidId",
    "Kind",
    "ParsedId",
    "check_character",
    "describe_kind",
    "is_valid_id",
    "kind_of_prefix",
    "make_id",
    "new_id",
    "normalize_typed",
    "parse_id",
]

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRTVWXYZ"
PREFIX_LENGTH: Final = 2
BODY_LENGTH: Final = 8
ID_LENGTH: Final = PREFIX_LENGTH + BODY_LENGTH + 1

_MODULUS: Final = len(ALPHABET)
_VALUES: Final[Mapping[str, int]] = MappingProxyType({c: i for i, c in enumerate(ALPHABET)})
_WEIGHTS: Final = tuple(pow(2, i + 1, _MODULUS) for i in range(ID_LENGTH))
# Inverse of the check position's weight, so the check value can be solved for directly.
_CHECK_WEIGHT_INVERSE: Final = pow(_WEIGHTS[-1], -1, _MODULUS)
_EXCERPT_LIMIT: Final = 40
_CONFUSABLE: Final = frozenset("ILOUS")


class Kind(StrEnum):
    """What an ID names; each kind has its own 2-letter prefix."""

    SITE = "site"
    PERSON = "person"
    DEVICE = "device"
    SPECIMEN_BOX = "specimen_box"
    INSTRUMENT_SET = "instrument_set"
    PACK = "pack"
    MACHINE = "machine"
    CYCLE = "cycle"
    TRIP = "trip"


PREFIXES: Final[Mapping[Kind, str]] = MappingProxyType(
    {
        Kind.SITE: "ZN",
        Kind.PERSON: "BD",
        Kind.DEVICE: "DV",
        Kind.SPECIMEN_BOX: "BX",
        Kind.INSTRUMENT_SET: "TR",
        Kind.PACK: "PK",
        Kind.MACHINE: "MC",
        Kind.CYCLE: "CY",
        Kind.TRIP: "TP",
    }
)
_KINDS_BY_PREFIX: Final[Mapping[str, Kind]] = MappingProxyType(
    {prefix: kind for kind, prefix in PREFIXES.items()}
)

# Wording for people at a scanner, with the article so reasons read naturally.
_DESCRIPTIONS: Final[Mapping[Kind, str]] = MappingProxyType(
    {
        Kind.SITE: "a site",
        Kind.PERSON: "a staff badge",
        Kind.DEVICE: "a device",
        Kind.SPECIMEN_BOX: "a specimen box",
        Kind.INSTRUMENT_SET: "an instrument set",
        Kind.PACK: "a pack",
        Kind.MACHINE: "a machine",
        Kind.CYCLE: "a cycle",
        Kind.TRIP: "a courier trip",
    }
)


class InvalidId(ValueError):
    """A string that is not an acceptable ID; ``reason`` is readable at a scanner."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class ParsedId:
    """A validated ID split into its parts; ``text`` is the full 11-character ID."""

    kind: Kind
    body: str
    text: str


def describe_kind(kind: Kind) -> str:
    """Return how a kind is named to people, with its article ("a specimen box")."""
    return _DESCRIPTIONS[kind]


def kind_of_prefix(prefix: str) -> Kind | None:
    """Return the kind whose prefix is ``prefix``, or None if no kind uses it."""
    return _KINDS_BY_PREFIX.get(prefix)


def _excerpt(text: str) -> str:
    """Quote at most ~40 characters of untrusted input for use in a message."""
    if len(text) > _EXCERPT_LIMIT:
        text = text[: _EXCERPT_LIMIT - 1] + "…"
    return repr(text)


def _checksum(text: str) -> int:
    return sum(w * _VALUES[c] for w, c in zip(_WEIGHTS, text, strict=False)) % _MODULUS


def _first_bad_character(text: str) -> int | None:
    for index, char in enumerate(text):
        if char not in _VALUES:
            return index
    return None


def _bad_character_reason(text: str, index: int) -> str:
    char = text[index]
    if char.upper() in _VALUES:
        hint = " (lowercase; IDs are uppercase)"
    elif char.upper() in _CONFUSABLE:
        hint = " (I, L, O, U and S are never used)"
    else:
        hint = ""
    return (
        f"{_excerpt(text)}: character {char!r} at position {index + 1} "
        f"is not used in Handoff IDs{hint}"
    )


def check_character(payload: str) -> str:
    """Return the check character for a 10-character prefix + body."""
    expected = PREFIX_LENGTH + BODY_LENGTH
    if len(payload) != expected:
        raise InvalidId(
            "bad_length",
            f"{_excerpt(payload)} has {len(payload)} characters; a prefix and body have {expected}",
        )
    bad = _first_bad_character(payload)
    if bad is not None:
        raise InvalidId("bad_character", _bad_character_reason(payload, bad))
    value = (-_checksum(payload) * _CHECK_WEIGHT_INVERSE) % _MODULUS
    return ALPHABET[value]


def make_id(kind: Kind, body: str) -> str:
    """Build the full ID for ``kind`` from an 8-character body drawn from ALPHABET."""
    if len(body) != BODY_LENGTH:
        raise InvalidId(
            "bad_length",
            f"ID body {_excerpt(body)} has {len(body)} characters; it needs {BODY_LENGTH}",
        )
    bad = _first_bad_character(body)
    if bad is not None:
        raise InvalidId("bad_character", "ID body " + _bad_character_reason(body, bad))
    payload = PREFIXES[kind] + body
    return payload + check_character(payload)


def new_id(kind: Kind, rng: random.Random | None = None) -> str:
    """Return a fresh random ID; pass a seeded ``rng`` for reproducible (demo) data only."""
    if rng is None:
        body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    else:
        body = "".join(rng.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return make_id(kind, body)


def _expected_kinds(expected: Kind | Collection[Kind] | None) -> frozenset[Kind] | None:
    if expected is None:
        return None
    # Kind is a str, so it must be caught before being treated as a collection of characters.
    if isinstance(expected, str):
        return frozenset({Kind(expected)})
    kinds = frozenset(Kind(k) for k in expected)
    if not kinds:
        raise ValueError("expected must name at least one Kind (or be None for any kind)")
    return kinds


def _describe_kinds(kinds: frozenset[Kind]) -> str:
    names = [_DESCRIPTIONS[k] for k in Kind if k in kinds]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def parse_id(text: str, expected: Kind | Collection[Kind] | None = None) -> ParsedId:
    """Validate a scanned ID strictly and return its parts, or raise InvalidId.

    No case folding or whitespace stripping is done: callers remove scanner framing first, and
    typed input goes through normalize_typed. ``expected`` limits the accepted kinds.
    """
    kinds = _expected_kinds(expected)
    if not text:
        raise InvalidId("empty", "empty scan: no code was read")
    if len(text) != ID_LENGTH:
        raise InvalidId(
            "bad_length",
            f"{_excerpt(text)} is {len(text)} characters long; "
            f"a Handoff ID has exactly {ID_LENGTH}",
        )
    bad = _first_bad_character(text)
    if bad is not None:
        raise InvalidId("bad_character", _bad_character_reason(text, bad))
    prefix = text[:PREFIX_LENGTH]
    kind = _KINDS_BY_PREFIX.get(prefix)
    if kind is None:
        raise InvalidId("unknown_prefix", f"{text}: {prefix!r} is not a known kind of Handoff ID")
    if _checksum(text) != 0:
        raise InvalidId("bad_check", f"{text}: check character is wrong (misread or mistyped code)")
    if kinds is not None and kind not in kinds:
        raise InvalidId(
            "wrong_kind",
            f"{text} is {_DESCRIPTIONS[kind]}, expected {_describe_kinds(kinds)}",
        )
    return ParsedId(kind=kind, body=text[PREFIX_LENGTH:-1], text=text)


def is_valid_id(text: str, expected: Kind | Collection[Kind] | None = None) -> bool:
    """Return whether ``text`` would be accepted by parse_id."""
    try:
        parse_id(text, expected)
    except InvalidId:
        return False
    return True


_TYPED_DROP: Final = frozenset(" \t-\u2010\u2011\u2012\u2013\u2014\u2212")
_TYPED_MAP: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_typed(text: str) -> str:
    """Tidy an ID a person typed: uppercase, drop spaces/dashes, read O as 0 and I/L as 1.

    Only for keyboard entry. Scanner input must go to parse_id unchanged, because a scanner that
    delivers lowercase or stray characters is misconfigured and should be noticed, not masked.
    """
    kept = "".join(c for c in text.strip().upper() if c not in _TYPED_DROP)
    return kept.translate(_TYPED_MAP)
