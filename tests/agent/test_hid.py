"""Keyboard-wedge decoding on synthetic input events.

No virtual input device can be made here (no /dev/uinput), so the events are built as evdev
builds them from a device: ``evdev.InputEvent(sec, usec, EV_KEY, code, value)``. The device
I/O itself (open, grab, read) is not exercised by these tests.
"""

from __future__ import annotations

import pytest

from scanner_agent.inputs.hid import KeyDecoder, KeyPress

evdev = pytest.importorskip("evdev")
ecodes = evdev.ecodes


def _events(text: str, gap_ms: float, start: float = 1000.0) -> list[object]:
    """The key events a US-layout scanner sends for ``text`` + Enter, ``gap_ms`` apart."""
    out = []
    t = start

    def key(code: int, value: int) -> None:
        out.append(evdev.InputEvent(int(t), round((t % 1) * 1e6), ecodes.EV_KEY, code, value))

    for char in text + "\n":
        name = {"\n": "KEY_ENTER", "-": "KEY_MINUS", ":": "KEY_SEMICOLON"}.get(char)
        shifted = char.isupper() or char == ":"
        code = ecodes.ecodes[name or f"KEY_{char.upper()}"]
        if shifted:
            key(ecodes.KEY_LEFTSHIFT, 1)
        key(code, 1)
        key(code, 0)
        if shifted:
            key(ecodes.KEY_LEFTSHIFT, 0)
        t += gap_ms / 1000
    return out


def _decode(decoder: KeyDecoder, events: list[object]) -> list[tuple[str, bool]]:
    done = []
    for event in events:
        assert event.type == ecodes.EV_KEY  # type: ignore[attr-defined]
        press = KeyPress(event.code, event.value, event.timestamp())  # type: ignore[attr-defined]
        if (result := decoder.feed(press)) is not None:
            done.append((result.text, result.typed))
    return done


def test_a_scanner_types_the_code_fast() -> None:
    assert _decode(KeyDecoder(), _events("BX0000001C8", gap_ms=2)) == [("BX0000001C8", False)]


def test_a_person_typing_is_told_apart_by_the_gaps() -> None:
    decoder = KeyDecoder(max_key_interval_ms=35)
    assert _decode(decoder, _events("BX0000001C8", gap_ms=150)) == [("BX0000001C8", True)]


def test_shifted_symbols_lowercase_and_two_codes_in_a_row() -> None:
    events = _events("S-0045", 3) + _events("ab:12", 3, start=2000.0)
    assert _decode(KeyDecoder(), events) == [("S-0045", False), ("ab:12", False)]


def test_layout_maps_keycodes_differently() -> None:
    # On a German keyboard the key labelled Y on US keyboards types Z.
    events = _events("Y", 2)
    assert _decode(KeyDecoder("de"), events) == [("Z", False)]
    assert _decode(KeyDecoder("us"), events) == [("Y", False)]


def test_caps_lock_and_unknown_keys() -> None:
    decoder = KeyDecoder()
    for code in (ecodes.KEY_CAPSLOCK, ecodes.KEY_B, ecodes.KEY_F5, ecodes.KEY_ENTER):
        first = decoder.feed(KeyPress(code, 1, 1.0))
    assert first is not None and first.text == "B\ufffd"
    assert first.problem == f"key codes [{ecodes.KEY_F5}] have no character in this layout"
    decoder.feed(KeyPress(ecodes.KEY_CAPSLOCK, 1, 1.1))
    for code in (ecodes.KEY_B, ecodes.KEY_ENTER):
        result = decoder.feed(KeyPress(code, 1, 1.2))
    assert result is not None and result.text == "b"
