"""What the benchmarks say about the machine they ran on, including how fast it was that day.

The shared 2-core machines here vary by a factor of two or more from one day to the next
(the raw INSERT ceiling of ``bench.ingest`` went 31,060 → 12,010 rows/s between two runs of
the same code). ``hash_microseconds`` times one fixed piece of the ledger's own work so
figures from different runs can be put side by side.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from server.custody.chain import ChainedFields, event_hash

_EVENT = ChainedFields(
    position=61_832,
    event_id=uuid.UUID("cf7de85c-df0a-4ad9-acf4-745665637cfe"),
    item_id=uuid.UUID("ef83d6b6-9899-401d-97fd-690a412a772e"),
    item_seq=4,
    type="observed",
    actor_id=None,
    counterparty_id=None,
    site_id=uuid.UUID("d6745404-5379-44d0-b262-21e4a60583c8"),
    device_id=uuid.UUID("ed2f9edf-49c1-4a98-81a4-9c02944e714b"),
    occurred_at=datetime(2026, 12, 3, 12, 24, 42, 996_513, tzinfo=UTC),
    received_at=datetime(2026, 12, 3, 12, 24, 51, 253_577, tzinfo=UTC),
    details={"temperature_c": 4.5},
    schema_version=1,
    flag_code=None,
    flags=[],
)


def hash_microseconds(calls: int = 5_000, rounds: int = 5) -> float:
    """Microseconds per ``event_hash`` of one fixed event: the best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            event_hash(_EVENT, "0" * 64)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def describe() -> dict[str, str]:
    """CPU count and model, memory, Python version and the hash speed, as text."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if match:
            model = match.group(1).strip()
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB RAM"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpus": str(cpus),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "speed": f"one event hash {hash_microseconds():.1f} µs",
    }
