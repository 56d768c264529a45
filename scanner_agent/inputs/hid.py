"""Keyboard-wedge scanners through evdev: key events to characters, and who is typing.

``KeyDecoder`` is pure: it takes key events (code, value, time) and returns finished codes
when Enter comes. A scanner "types" a whole code within a few milliseconds per key; a person
takes 80 ms or more. If the median gap between keys is above ``max_key_interval_ms`` the code
is marked as typed, and the station treats it as keyboard entry. evdev is Linux-only and an
optional dependency: ``HidScanner`` imports it only when it runs.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from scanner_agent.config import HidInput
from scanner_agent.inputs.base import Emit, Scan, backoff_delays

__all__ = ["LAYOUTS", "HidScanner", "KeyDecoder", "KeyPress", "evdev_available"]

log = logging.getLogger(__name__)

# Linux input keycodes (linux/input-event-codes.h), the ones a scanner sends.
KEY_ENTER, KEY_KPENTER, KEY_TAB = 28, 96, 15
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_RIGHTALT, KEY_CAPSLOCK = 42, 54, 100, 58
_SHIFTS: Final = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
EV_KEY: Final = 1
_ROW_1: Final = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)  # 1 … 0 - =
_ROW_Q: Final = (16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)  # q … p [ ]
_ROW_A: Final = (30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41)  # a … ; ' `
_ROW_Z: Final = (43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53)  # \ z … /
_SPACE: Final = 57
_KEYPAD: Final = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
                  79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 98: "/", 55: "*"}  # fmt: skip


def _layout(rows: Mapping[tuple[int, ...], tuple[str, str]]) -> Mapping[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {_SPACE: (" ", " ")}
    for codes, (plain, shifted) in rows.items():
        for code, low, high in zip(codes, plain, shifted, strict=True):
            table[code] = (low, high)
    for code, char in _KEYPAD.items():
        table[code] = (char, char)
    return MappingProxyType(table)


LAYOUTS: Final[Mapping[str, Mapping[int, tuple[str, str]]]] = MappingProxyType(
    {
        "us": _layout(
            {
                _ROW_1: ("1234567890-=", "!@#$%^&*()_+"),
                _ROW_Q: ("qwertyuiop[]", "QWERTYUIOP{}"),
                _ROW_A: ("asdfghjkl;'`", 'ASDFGHJKL:"~'),
                _ROW_Z: ("\\zxcvbnm,./", "|ZXCVBNM<>?"),
            }
        ),
        "de": _layout(
            {
                _ROW_1: ("1234567890ß´", '!"§$%&/()=?`'),
                _ROW_Q: ("qwertzuiopü+", "QWERTZUIOPÜ*"),
                _ROW_A: ("asdfghjklöä^", "ASDFGHJKLÖÄ°"),
                _ROW_Z: ("#yxcvbnm,.-", "'YXCVBNM;:_"),
            }
        ),
        "fr": _layout(
            {
                _ROW_1: ("&é\"'(-è_çà)=", "1234567890°+"),
                _ROW_Q: ("azertyuiop^$", "AZERTYUIOP¨£"),
                _ROW_A: ("qsdfghjklmù²", "QSDFGHJKLM%~"),
                _ROW_Z: ("*wxcvbn,;:!", "µWXCVBN?./§"),
            }
        ),
    }
)


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key event: ``value`` 1 is down, 0 up, 2 auto-repeat; ``at`` in seconds."""

    code: int
    value: int
    at: float


@dataclass(frozen=True, slots=True)
class Decoded:
    """A finished code from the keyboard."""

    text: str
    typed: bool
    median_gap_ms: float
    problem: str | None = None


class KeyDecoder:
    """Turn key events into codes, one per Enter, with a verdict on who typed them."""

    def __init__(self, layout: str = "us", max_key_interval_ms: float = 35.0) -> None:
        self.keys = LAYOUTS[layout]
        self.max_key_interval_ms = max_key_interval_ms
        self._chars: list[str] = []
        self._times: list[float] = []
        self._shift: set[int] = set()
        self._caps = False
        self._unknown: list[int] = []

    def feed(self, press: KeyPress) -> Decoded | None:
        """Take one key event; return a code when it completes one."""
        if press.code in _SHIFTS:
            if press.value == 1:
                self._shift.add(press.code)
            elif press.value == 0:
                self._shift.discard(press.code)
            return None
        if press.value != 1:
            return None  # key up and auto-repeat carry no characters
        if press.code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if press.code in (KEY_ENTER, KEY_KPENTER, KEY_TAB):
            return self._finish()
        entry = self.keys.get(press.code)
        self._times.append(press.at)
        if entry is None:
            self._unknown.append(press.code)
            self._chars.append("\ufffd")
            return None
        low, high = entry
        upper = bool(self._shift)
        char = high if upper else low
        if self._caps and low.isalpha():
            char = low if upper else high
        self._chars.append(char)
        return None

    def _finish(self) -> Decoded | None:
        if not self._chars:
            return None
        text = "".join(self._chars)
        gaps = [(b - a) * 1000 for a, b in zip(self._times, self._times[1:], strict=False)]
        median = statistics.median(gaps) if gaps else 0.0
        problem = None
        if self._unknown:
            problem = f"key codes {self._unknown} have no character in this layout"
        self._chars, self._times, self._unknown = [], [], []
        return Decoded(text, median > self.max_key_interval_ms, round(median, 1), problem)


def evdev_available() -> bool:
    """Whether the evdev package can be imported here (Linux with the extra installed)."""
    try:
        import evdev  # noqa: F401
    except ImportError:
        return False
    return True


def find_hid(usb: str) -> str | None:
    """Return the /dev/input/event* path of the first input device with USB ``VID:PID``."""
    import evdev

    vendor, product = (int(part, 16) for part in usb.split(":"))
    for path in sorted(evdev.list_devices()):
        device = evdev.InputDevice(path)
        if device.info.vendor == vendor and device.info.product == product:
            return str(path)
    return None


class HidScanner:
    """Read a keyboard-wedge scanner through evdev, grabbed; reopen it when it goes away."""

    def __init__(self, config: HidInput, *, on_status: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.on_status = on_status

    def describe(self) -> str:
        where = self.config.device or f"USB {self.config.usb}"
        return f"keyboard wedge {where} (layout {self.config.layout})"

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            import evdev
        except ImportError:
            log.error("%s: the evdev package is not installed (Linux only)", self.name)
            return
        delays = backoff_delays()
        complained = False
        while not stop.is_set():
            try:
                path = self.config.device or find_hid(self.config.usb or "")
                if path is None:
                    raise OSError(f"no input device with USB ID {self.config.usb}")
                device = evdev.InputDevice(path)
                device.grab()
            except OSError as error:
                if not complained:
                    log.warning("%s: cannot open (%s); retrying", self.name, error)
                    complained = True
                stop.wait(delays())
                continue
            complained, delays = False, backoff_delays()
            if self.on_status is not None:
                self.on_status(f"{self.name}: reading {path} ({device.name})")
            try:
                self._read(device, emit, stop)
            except OSError as error:
                log.warning("%s: %s went away (%s); reconnecting", self.name, path, error)
            finally:
                with contextlib.suppress(OSError):
                    device.close()

    def _read(self, device: Any, emit: Emit, stop: threading.Event) -> None:
        import select

        decoder = KeyDecoder(self.config.layout, self.config.max_key_interval_ms)
        while not stop.is_set():
            ready, _, _ = select.select([device.fd], [], [], 0.2)
            if not ready:
                continue
            for event in device.read():
                if event.type != EV_KEY:
                    continue
                done = decoder.feed(KeyPress(event.code, event.value, event.timestamp()))
                if done is not None:
                    emit(
                        Scan(
                            done.text,
                            self.name,
                            at=datetime.now(UTC),
                            typed=done.typed,
                            problem=done.problem,
                        )
                    )
