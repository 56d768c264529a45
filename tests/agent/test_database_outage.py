"""PostgreSQL stopped in the middle of an ingest (issue 9, faults).

A throwaway PostgreSQL cluster of the test's own (initdb + pg_ctl on a spare port; never the
machine's shared server) holds the ledger. An agent scans boxes; the database is stopped while
it drains: the server answers 503 with a message, the station goes on recording locally, the
agent retries, and after PostgreSQL is back every scan is in the ledger exactly once and the
chain verifies.
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

import httpx
import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from server.custody import ledger
from server.migrate import upgrade
from tests.agent.conftest import County, device_events
from tests.agent.support import AgentProcess, PtyScanner, answer_to, write_config
from tests.support.server import free_port

pytestmark = pytest.mark.slow
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


class Cluster:
    """A PostgreSQL cluster in a temporary directory, run as ``postgres`` when we are root
    (initdb refuses to run as root)."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root, self.bin = root, bin_dir
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/handoff"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stdout}{done.stderr}")

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE handoff")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
            "-l", str(self.root / "log"), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if ON_CI:
            pytest.fail(message + " (mandatory on CI)")
        pytest.skip(message)
    # Not under pytest's tmp_path: that is private to root, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="handoff-pg-"))
    made = Cluster(root, bin_dir)
    made.create()
    try:
        yield made
    finally:
        with contextlib.suppress(RuntimeError):
            made.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(cluster: Cluster) -> str:
    """Overrides the suite's database: this test's own cluster, migrated."""
    upgrade(cluster.url)
    return cluster.url


def test_postgresql_stopped_mid_ingest_loses_nothing(
    tmp_path: Path,
    cluster: Cluster,
    county: County,
    server_url: str,
    pty_scanner: PtyScanner,
    session_factory: sessionmaker[Session],
) -> None:
    config = write_config(
        tmp_path / "agent.toml",
        site="T01",
        server_url=server_url,
        device_token=county.token,
        outbox=str(tmp_path / "outbox.db"),
        language="en",
        batch_size=50,
        backoff_seconds=0.05,
        backoff_max_seconds=0.5,
        station={"mode": "inventory", "repeat_seconds": 0},
        inputs=[{"kind": "serial", "port": pty_scanner.path, "framing": "cr"}],
    )
    codes = [county.boxes[i % len(county.boxes)] for i in range(600)]
    agent = AgentProcess(config).start()
    agent.wait_for(r"reading /dev/")
    for code in codes[:200]:
        assert answer_to(agent, pty_scanner, code)[0] == "✓"
    cluster.stop()  # in the middle: the sender is still draining what was just scanned
    for code in codes[200:400]:  # the station goes on recording while the database is down
        assert answer_to(agent, pty_scanner, code)[0] == "✓"
    answer = httpx.post(
        f"{server_url}/api/v1/events",
        headers={"Authorization": f"Bearer {county.token}"},
        json={"events": []},
        timeout=30,
    )
    assert answer.status_code == 503, answer.text
    assert "database" in answer.json()["detail"].lower()
    agent.wait_seen(r"retrying", timeout=30)
    cluster.start()
    for code in codes[400:]:
        assert answer_to(agent, pty_scanner, code)[0] == "✓"
    deadline = time.monotonic() + 60
    while len(events := device_events(session_factory, county.device)) < len(codes):
        assert time.monotonic() < deadline, (len(events), agent.log[-20:])
        time.sleep(0.25)
    assert agent.stop() == 0
    assert [barcode for _, barcode in events] == codes  # all, once each, in scan order
    assert len({event_id for event_id, _ in events}) == len(codes)
    with session_factory() as session:
        report = ledger.verify(session)
    assert report.ok, report
