"""The agent's disk nearly full (issue 9, faults): it refuses new scans loudly rather than
acknowledge scans it cannot keep, and takes them again once there is room.

Where this process may mount (root with CAP_SYS_ADMIN), the outbox lives on a real 4 MB tmpfs
that a filler file nearly fills; elsewhere the agent's ``min_free_mb`` is set above the free
space of the test's real disk, which is the same check seen from the other side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from scanner_agent.outbox import Outbox
from tests.agent.conftest import County, device_events
from tests.agent.support import AgentProcess, PtyScanner, answer_to, write_config

pytestmark = pytest.mark.slow
MIN_FREE_MB = 1


@pytest.fixture
def small_disk() -> Iterator[Path | None]:
    """A 4 MB tmpfs, or None where mounting is not permitted."""
    where = Path(tempfile.mkdtemp(prefix="handoff-small-disk-"))
    mounted = (
        os.geteuid() == 0
        and not os.environ.get("HANDOFF_TEST_NO_MOUNT")  # to try the other way on purpose
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield where if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            where.rmdir()


def _fill(disk: Path, leave_mb: float) -> Path:
    """Write a filler file until only about ``leave_mb`` is free on ``disk``."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, int(free - leave_mb * 2**20)))
    return filler


def test_a_nearly_full_disk_refuses_scans_loudly_and_loses_none(
    tmp_path: Path,
    small_disk: Path | None,
    county: County,
    server_url: str,
    pty_scanner: PtyScanner,
    session_factory: sessionmaker[Session],
) -> None:
    disk = small_disk or tmp_path
    minimum = MIN_FREE_MB if small_disk else int(shutil.disk_usage(tmp_path).free / 2**20) + 10_000
    config = write_config(
        tmp_path / "agent.toml",
        site="T01",
        server_url=server_url,
        device_token=county.token,
        outbox=str(disk / "outbox.db"),
        language="en",
        backoff_seconds=0.05,
        min_free_mb=minimum,
        station={"mode": "inventory", "repeat_seconds": 0},
        inputs=[{"kind": "serial", "port": pty_scanner.path, "framing": "cr"}],
    )
    boxes = county.boxes
    agent = AgentProcess(config).start()
    agent.wait_for(r"reading /dev/")
    recorded: list[str] = []
    if small_disk is not None:
        for code in boxes[:10]:
            assert answer_to(agent, pty_scanner, code)[0] == "✓"
            recorded.append(code)
        filler = _fill(small_disk, leave_mb=0.5)
    for code in boxes[10:15]:
        mark, line = answer_to(agent, pty_scanner, code)
        assert mark == "✗", line
        assert "disk nearly full" in line and "NOT recorded" in line, line
    if small_disk is not None:
        filler.unlink()
        for code in boxes[15:25]:
            assert answer_to(agent, pty_scanner, code)[0] == "✓"
            recorded.append(code)
    deadline = time.monotonic() + 30
    while len(events := device_events(session_factory, county.device)) < len(recorded):
        assert time.monotonic() < deadline, agent.log[-20:]
        time.sleep(0.2)
    assert agent.stop() == 0
    assert [barcode for _, barcode in events] == recorded  # the refused five never went out
    outbox = Outbox(disk / "outbox.db")
    assert [event["item"] for event in outbox.events()] == recorded
    outbox.close()
