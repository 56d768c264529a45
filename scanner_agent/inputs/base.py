"""What every input gives the station: a Scan, through one small protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Emit", "Scan", "ScanSource", "backoff_delays"]


@dataclass(frozen=True, slots=True)
class Scan:
    """One code as an input delivered it, framing removed and nothing else changed.

    ``problem`` is set when the input already knows the frame is bad (noise, a truncated or
    over-long frame); the station refuses such scans with that reason and records them.
    """

    text: str
    source: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    monotonic: float = field(default_factory=time.perf_counter)
    typed: bool = False
    problem: str | None = None


Emit = Callable[[Scan], None]


class ScanSource(Protocol):
    """An input device. ``run`` blocks, emitting scans, until ``stop`` is set."""

    name: str

    def describe(self) -> str:
        """Say which device this is, for people."""
        ...

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read until ``stop`` is set; reconnect on its own when the device goes away."""
        ...


def backoff_delays(first: float = 0.5, cap: float = 30.0) -> Callable[[], float]:
    """Return a function giving the next reconnect delay: doubling from ``first`` up to ``cap``."""
    state = {"next": first}

    def next_delay() -> float:
        delay = state["next"]
        state["next"] = min(cap, delay * 2)
        return delay

    return next_delay
