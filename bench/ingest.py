"""Ingest throughput and custody lookup latency on PostgreSQL (``make bench-ingest``).

Run as ``python -m bench.ingest [--events N] [--clients C] ...``. It creates its own
database ``handoff_bench_<random>`` (and two copies of it for the raw ceilings) on the
PostgreSQL server named by ``--pg-url`` and drops all of them at the end, also on error
or Ctrl-C. It never fails on timing: it prints the figures, marks the targets met or not
met and (unless ``--no-write-docs``) writes them into ``docs/benchmarks.md``.

Phases:

1. Set-up: migrate, create a county through the services (sites, one device per site,
   an admin who can log in) and register ``--items`` specimen boxes, their 'registered'
   events appended through ``ledger.append`` a few thousand per transaction.
2. A real ``uvicorn`` server on a free port (``--workers`` processes).
3. API ingest: ``--events`` pre-generated scans POSTed to ``/api/v1/events`` in batches of
   ``--batch`` by ``--clients`` threads with keep-alive connections, device tokens.
4. Raw ceilings: the same scans, hashed beforehand into rows of the same shape, inserted
   straight through psycopg into two copies of the database taken before phase 3:
   ``executemany`` of an INSERT and ``COPY``, committing every ``--batch`` rows.
5. Custody lookup: the ledger is filled to ``--lookup-events`` events by COPY of valid,
   chained rows (ledger head and item projections updated, so ``handoff verify`` passes),
   then ``GET /api/v1/items/{barcode}/custody`` is timed for ``--lookups`` random items,
   and the same through ``items.service.custody_chain_by_barcode`` in process.
6. A summary on stdout and in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from bench.machine import describe
from labels.identity import new_id
from server.cli import WORKER_ENVIRONMENT
from server.custody import ledger
from server.custody.chain import ChainedFields, event_hash
from server.custody.lifecycle import LIFECYCLES, REGISTERED, apply
from server.custody.projection import EventFacts, Projection, advance
from server.db import build_engine, build_sessionmaker, read_scope, session_scope
from server.devices.schemas import DeviceCreate
from server.devices.service import create_device
from server.enums import ItemKind, Role, SiteKind
from server.items.service import custody_chain_by_barcode
from server.migrate import upgrade
from server.models import Item
from server.people.schemas import PersonCreate
from server.people.service import create_person
from server.sites.schemas import SiteCreate
from server.sites.service import create_site

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- ingest:start -->"
END_MARK = "<!-- ingest:end -->"
DOCS_HEADER = (
    "# Benchmarks\n\n"
    "Figures in the sections below are written by the benchmarks themselves; the ingest "
    "section comes from `make bench-ingest` (`python -m bench.ingest`).\n"
)

TARGET_EVENTS_PER_S = 5_000
TARGET_RAW_SHARE = 0.30
TARGET_P99_MS = 10.0

ADMIN_USERNAME = "bench-admin"
ADMIN_PASSWORD = "bench-password-123"
REGISTER_CHUNK = 5_000
FILL_CHUNK = 10_000
WARMUP_LOOKUPS = 200
LOCAL_ZONE = timezone(timedelta(hours=8))

# Mostly observations (valid in any state); prepare and seal move boxes through their
# lifecycle, so some scans are accepted as steps and some are flagged out of sequence.
EVENT_MIX: tuple[tuple[str, int], ...] = (
    ("note", 35),
    ("observed", 30),
    ("temperature", 25),
    ("prepare", 5),
    ("seal", 5),
)

COLUMNS = (
    "position",
    "event_id",
    "item_id",
    "item_seq",
    "type",
    "actor_id",
    "counterparty_id",
    "site_id",
    "device_id",
    "occurred_at",
    "received_at",
    "details",
    "schema_version",
    "flag_code",
    "flags",
    "prev_hash",
    "hash",
)
COLUMN_LIST = ", ".join(COLUMNS)
INSERT_SQL = (
    f"INSERT INTO custody_events ({COLUMN_LIST}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
)
COPY_SQL = f"COPY custody_events ({COLUMN_LIST}) FROM STDIN"

Row = tuple[Any, ...]


# --- output ----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Progress:
    """A line on stderr each time another 10 % of ``total`` is done, with the rate so far."""

    def __init__(self, label: str, total: int, unit: str = "events") -> None:
        self.label, self.total, self.unit = label, max(total, 1), unit
        self.done = 0
        self.next_tenth = 1
        self.started = time.perf_counter()
        self.lock = threading.Lock()

    def advance(self, count: int) -> None:
        with self.lock:
            self.done += count
            tenth = min(10, self.done * 10 // self.total)
            if tenth < self.next_tenth:
                return
            self.next_tenth = tenth + 1
            elapsed = time.perf_counter() - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            log(
                f"  {self.label}: {self.done:,}/{self.total:,} ({tenth * 10} %), "
                f"{rate:,.0f} {self.unit}/s, {elapsed:.1f} s"
            )


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of durations given in seconds, in milliseconds."""
    if not samples_s:
        nan = float("nan")
        return {"p50": nan, "p95": nan, "p99": nan, "max": nan, "mean": nan}
    ms = sorted(sample * 1000 for sample in samples_s)
    if len(ms) == 1:
        return {"p50": ms[0], "p95": ms[0], "p99": ms[0], "max": ms[0], "mean": ms[0]}
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": ms[-1],
        "mean": statistics.fmean(ms),
    }


# --- databases ---------------------------------------------------------------------------


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=autocommit,
        connect_timeout=10,
    )


class Databases:
    """The benchmark's own databases: created under a random name, all dropped by ``drop``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.base = f"handoff_bench_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self, suffix: str = "", template: str | None = None) -> str:
        name = self.base + suffix
        clause = f' TEMPLATE "{template}"' if template else ""
        with connect(self.admin_url, autocommit=True) as admin:
            self.created.append(name)
            admin.execute(f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop(self) -> None:
        if not self.created:
            return
        with connect(self.admin_url, autocommit=True) as admin:
            for name in reversed(self.created):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"dropped database {name}")
        self.created.clear()


def checkpoint(url: str) -> None:
    """Flush dirty buffers so one phase's writes are not paid for in the next phase."""
    with connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# --- the county ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: uuid.UUID
    barcode: str
    token: str
    site_id: uuid.UUID
    site_code: str


@dataclass(slots=True)
class County:
    devices: list[DeviceInfo]
    boxes: list[tuple[uuid.UUID, str]]  # (item id, barcode)
    seconds: float = 0.0


SITES: tuple[tuple[str, SiteKind], ...] = (
    ("CH", SiteKind.county_hospital),
    ("LAB", SiteKind.laboratory),
    ("T01", SiteKind.township_clinic),
    ("T02", SiteKind.township_clinic),
    ("T03", SiteKind.township_clinic),
)


def build_county(url: str, item_count: int) -> County:
    """Sites, devices and an admin through the services; boxes through ``ledger.append``."""
    started = time.perf_counter()
    engine = build_engine(url)
    factory = build_sessionmaker(engine)
    devices: list[DeviceInfo] = []
    site_ids: dict[str, uuid.UUID] = {}
    try:
        with session_scope(factory) as session:
            for code, site_kind in SITES:
                site = create_site(
                    session,
                    None,
                    SiteCreate(
                        code=code,
                        kind=site_kind,
                        name_zh=f"{code} 站点",
                        name_en=f"Site {code}",
                        latitude=30.25,
                        longitude=115.05,
                        opens_at=clock(8),
                        closes_at=clock(17),
                    ),
                )
                site_ids[code] = site.id
            create_person(
                session,
                None,
                PersonCreate(
                    name="bench admin",
                    role=Role.admin,
                    username=ADMIN_USERNAME,
                    password=ADMIN_PASSWORD,
                    home_site="CH",
                ),
            )
            for code, _ in SITES:
                device, token = create_device(
                    session, None, DeviceCreate(name=f"{code} bench scanner", site=code)
                )
                devices.append(DeviceInfo(device.id, device.barcode, token, site_ids[code], code))

        homes = [site_ids[code] for code, sk in SITES if sk == SiteKind.township_clinic]
        kind = ItemKind.specimen_box
        barcodes: set[str] = set()
        while len(barcodes) < item_count:
            barcodes.add(new_id(kind.id_kind))
        ordered = sorted(barcodes)
        boxes: list[tuple[uuid.UUID, str]] = []
        progress = Progress("registering boxes", item_count, "items")
        for start in range(0, item_count, REGISTER_CHUNK):
            now = datetime.now(UTC)
            with session_scope(factory) as session:
                items = [
                    Item(
                        barcode=barcode,
                        kind=kind,
                        description="",
                        home_site_id=homes[(start + offset) % len(homes)],
                        attributes={},
                        state=LIFECYCLES[kind].initial,
                        last_seq=0,
                        open_flags=0,
                    )
                    for offset, barcode in enumerate(ordered[start : start + REGISTER_CHUNK])
                ]
                session.add_all(items)
                session.flush()
                boxes.extend((item.id, item.barcode) for item in items)
                head = ledger.lock_head(session)
                ledger.append(
                    session,
                    head,
                    [
                        ledger.Draft(
                            event_id=uuid.uuid4(),
                            item=item,
                            type=REGISTERED,
                            occurred_at=now,
                            site_id=item.home_site_id,
                        )
                        for item in items
                    ],
                    now,
                )
            progress.advance(len(items))
    finally:
        engine.dispose()
    return County(devices, boxes, time.perf_counter() - started)


# --- scans and hashed rows -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scan:
    event_id: uuid.UUID
    item_id: uuid.UUID
    barcode: str
    type: str
    occurred_at: datetime
    details: dict[str, Any]


def spread(since: datetime, until: datetime, count: int) -> Iterator[datetime]:
    """``count`` increasing instants after ``since``, the last one at ``until``.

    Scans of an item arrive in the order they happened, as from a device that is online:
    an event older than the item's latest one would take the late-sync path instead.
    """
    step = (until - since) / max(count, 1)
    for index in range(1, count + 1):
        yield (since + step * index).astimezone(LOCAL_ZONE)


def make_scan(rng: random.Random, item: tuple[uuid.UUID, str], occurred: datetime) -> Scan:
    types, weights = zip(*EVENT_MIX, strict=True)
    kind = rng.choices(types, weights)[0]
    details: dict[str, Any]
    if kind == "temperature":
        details = {"temperature_c": round(rng.uniform(2.0, 8.0), 1)}
    elif kind == "note":
        details = {"text": "bench note"}
    elif kind == "prepare":
        details = {"specimen_type": "routine_blood", "count": rng.randint(4, 24)}
    elif kind == "seal":
        details = {"seal": f"S{rng.randint(100000, 999999)}"}
    else:
        details = {}
    return Scan(
        uuid.UUID(int=rng.getrandbits(128), version=4), item[0], item[1], kind, occurred, details
    )


def api_event(scan: Scan) -> dict[str, Any]:
    return {
        "event_id": str(scan.event_id),
        "type": scan.type,
        "item": scan.barcode,
        "occurred_at": scan.occurred_at.isoformat(),
        "details": scan.details,
    }


@dataclass(slots=True)
class LedgerState:
    """The ledger head and every item's projection, advanced as rows are made."""

    position: int
    hash: str
    kinds: dict[uuid.UUID, ItemKind]
    projections: dict[uuid.UUID, Projection]
    touched: set[uuid.UUID] = field(default_factory=set)

    def copy(self) -> LedgerState:
        return LedgerState(self.position, self.hash, dict(self.kinds), dict(self.projections))


def read_ledger(url: str) -> LedgerState:
    with connect(url) as conn:
        head = conn.execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone()
        assert head is not None, "ledger_head row missing"
        kinds: dict[uuid.UUID, ItemKind] = {}
        projections: dict[uuid.UUID, Projection] = {}
        for row in conn.execute(
            "SELECT id, kind, state, last_seq, last_position, last_event_at, current_site_id, "
            "holder_id, open_flags FROM items"
        ):
            item_id, kind, state, last_seq, last_position, last_event_at, site, holder, flags = row
            kinds[item_id] = ItemKind(kind)
            projections[item_id] = Projection(
                state=state if last_seq else None,
                last_seq=last_seq,
                last_position=last_position,
                last_event_at=last_event_at,
                current_site_id=site,
                holder_id=holder,
                open_flags=flags,
            )
    return LedgerState(int(head[0]), str(head[1]), kinds, projections)


def hashed_rows(
    scans: Iterable[Scan], state: LedgerState, device: DeviceInfo, received_at: datetime
) -> Iterator[Row]:
    """Rows exactly as ``ledger.append`` would store ``scans`` from ``device``."""
    for scan in scans:
        before = state.projections[scan.item_id]
        outcome = apply(state.kinds[scan.item_id], before.state, scan.type)
        flag_code = outcome.flag.code if outcome.flag else None
        flags = [outcome.flag.to_json()] if outcome.flag else []
        position = state.position + 1
        fields = ChainedFields(
            position=position,
            event_id=scan.event_id,
            item_id=scan.item_id,
            item_seq=before.last_seq + 1,
            type=scan.type,
            actor_id=None,
            counterparty_id=None,
            site_id=device.site_id,
            device_id=device.id,
            occurred_at=scan.occurred_at,
            received_at=received_at,
            details=scan.details,
            schema_version=1,
            flag_code=flag_code,
            flags=flags,
        )
        digest = event_hash(fields, state.hash)
        yield (
            position,
            scan.event_id,
            scan.item_id,
            fields.item_seq,
            scan.type,
            None,
            None,
            device.site_id,
            device.id,
            scan.occurred_at,
            received_at,
            Jsonb(scan.details),
            1,
            flag_code,
            Jsonb(flags),
            state.hash,
            digest,
        )
        facts = EventFacts(
            position=position,
            type=scan.type,
            actor_id=None,
            counterparty_id=None,
            site_id=device.site_id,
            occurred_at=scan.occurred_at,
            flagged=flag_code is not None,
        )
        state.projections[scan.item_id] = advance(before, facts, outcome)
        state.touched.add(scan.item_id)
        state.position, state.hash = position, digest


@dataclass(frozen=True, slots=True)
class Batch:
    index: int
    device: DeviceInfo
    scans: list[Scan]
    body: bytes


def make_batches(
    county: County, count: int, size: int, rng: random.Random, since: datetime
) -> list[Batch]:
    times = spread(since, datetime.now(UTC), count)
    scans = [make_scan(rng, rng.choice(county.boxes), at) for at in times]
    batches = []
    for index, start in enumerate(range(0, count, size)):
        chunk = scans[start : start + size]
        device = county.devices[index % len(county.devices)]
        body = json.dumps({"events": [api_event(scan) for scan in chunk]}).encode()
        batches.append(Batch(index, device, chunk, body))
    return batches


# --- the server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    url: str,
    workers: int,
    batch_limit: int,
    errors: Counter[str],
    log_path: Path | None = None,
) -> Iterator[tuple[str, int]]:
    """``uvicorn`` on a free port; yields its base URL and process id; stops it after.

    The server's output goes to ``log_path`` if given. After the server stops, the
    exceptions it logged are counted into ``errors`` by their final line.
    """
    port = free_port()
    env = {
        **WORKER_ENVIRONMENT,  # as `handoff serve` starts its workers
        **os.environ,
        "HANDOFF_DATABASE_URL": url,
        "HANDOFF_INGEST_BATCH_LIMIT": str(batch_limit),
        "HANDOFF_LOG_SQL": "false",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "server.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    with log_path.open("w+b") if log_path else tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"

        def server_output(limit: int = 3000) -> str:
            output.seek(0)
            return output.read().decode(errors="replace")[-limit:]

        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {process.returncode}:\n{server_output()}"
                    )
                try:
                    if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer within 60 s:\n{server_output()}")
                time.sleep(0.1)
            log(f"server up at {base} (pid {process.pid}, {workers} worker(s))")
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            errors.update(logged_exceptions(server_output(limit=50_000_000)))
            for line, count in errors.most_common(5):
                log(f"  server logged {count} × {line}")
            tail = server_output(limit=1500).strip()
            if tail:
                log(f"server output (last lines):\n{tail}")


EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Violation)\b.*$")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def logged_exceptions(output: str) -> Counter[str]:
    """The outermost exception of each traceback uvicorn logged, IDs masked."""
    found: Counter[str] = Counter()
    for block in output.split("Exception in ASGI application")[1:]:
        lines = [line for line in block.splitlines() if EXCEPTION_LINE.match(line)]
        if lines:
            found[UUID_TEXT.sub("…", lines[-1])[:200]] += 1
    return found


# --- phase 3: API ingest -----------------------------------------------------------------


@dataclass(slots=True)
class IngestResult:
    events: int = 0
    seconds: float = 0.0
    batch_latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    flagged: int = 0
    duplicates: int = 0
    failed_batches: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    stored_rows: int = 0
    expected_rows: int = 0
    worker_cores: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def post_batches(base: str, batches: Sequence[Batch], clients: int, retries: int) -> IngestResult:
    """POST every batch; a failed request is sent again (safe: event IDs are idempotency keys)."""
    result = IngestResult(events=sum(len(batch.scans) for batch in batches))
    answers: list[tuple[int, bytes, float] | None] = [None] * len(batches)
    errors: list[BaseException] = []
    next_index = iter(range(len(batches)))
    lock = threading.Lock()
    progress = Progress("API ingest", result.events)

    def send(http: httpx.Client, batch: Batch, rng: random.Random) -> tuple[int, bytes, float]:
        first = time.perf_counter()
        for attempt in range(retries + 1):
            try:
                response = http.post(
                    "/api/v1/events",
                    content=batch.body,
                    headers={
                        "Authorization": f"Bearer {batch.device.token}",
                        "Content-Type": "application/json",
                    },
                )
            except httpx.TransportError as error:
                status, content = 0, f"{type(error).__name__}: {error}".encode()
            else:
                status, content = response.status_code, response.content
            if status == 200 or attempt == retries:
                return status, content, time.perf_counter() - first
            with lock:
                result.failed_requests.append(
                    f"batch {batch.index} attempt {attempt + 1}: "
                    + (f"HTTP {status}: " if status else "")
                    + content.decode(errors="replace")[:300]
                )
            # Back off as a scanner agent would: 50 ms, 100 ms, … up to 1 s, with jitter.
            time.sleep(min(1.0, 0.05 * 2**attempt) * rng.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def client() -> None:
        try:
            rng = random.Random()
            with httpx.Client(base_url=base, timeout=300) as http:
                while True:
                    with lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    answers[index] = send(http, batches[index], rng)
                    progress.advance(len(batches[index].scans))
        except BaseException as error:  # reported after the threads are joined
            errors.append(error)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"an ingest client failed: {errors[0]!r}") from errors[0]

    for batch, answer in zip(batches, answers, strict=True):
        assert answer is not None
        status, content, latency = answer
        result.batch_latencies.append(latency)
        if status != 200:
            result.failed_batches.append(
                f"batch {batch.index}: "
                + (f"HTTP {status}: " if status else "")
                + content.decode(errors="replace")[:300]
            )
            continue
        body = json.loads(content)
        result.accepted += body["accepted"]
        result.flagged += body["flagged"]
        result.duplicates += body["duplicates"]
        if body["accepted"] + body["flagged"] + body["duplicates"] != len(batch.scans):
            result.failed_batches.append(
                f"batch {batch.index}: {body['accepted']} accepted + {body['flagged']} flagged "
                f"+ {body['duplicates']} duplicates of {len(batch.scans)}"
            )
    return result


def worker_cpu(server_pid: int) -> dict[int, float]:
    """CPU seconds used so far by each worker process of the server (Linux ``/proc``)."""
    seconds: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
        for child in map(int, children):
            if b"spawn_main" not in Path(f"/proc/{child}/cmdline").read_bytes():
                continue  # uvicorn's other children (multiprocessing's resource tracker)
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[child] = (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return {}
    return seconds


def spread_over_workers(
    before: dict[int, float], after: dict[int, float], seconds: float
) -> list[float]:
    """Cores each worker used over ``seconds``, busiest first."""
    used = [(after[pid] - before[pid]) / seconds for pid in after if pid in before]
    return sorted(used, reverse=True)


def count_events(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM custody_events").fetchone()
        return int(row[0]) if row else 0


# --- phase 4: raw ceilings -------------------------------------------------------------------


def insert_executemany(url: str, batches: Sequence[list[Row]]) -> float:
    total = sum(len(rows) for rows in batches)
    progress = Progress("raw executemany", total)
    with connect(url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        for rows in batches:
            cursor.executemany(INSERT_SQL, rows)
            conn.commit()
            progress.advance(len(rows))
        return time.perf_counter() - started


def insert_copy(url: str, batches: Sequence[list[Row]]) -> float:
    total = sum(len(rows) for rows in batches)
    progress = Progress("raw COPY", total)
    with connect(url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        for rows in batches:
            with cursor.copy(COPY_SQL) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            progress.advance(len(rows))
        return time.perf_counter() - started


# --- phase 5: fill and lookups --------------------------------------------------------------


@dataclass(slots=True)
class FillResult:
    added: int = 0
    seconds: float = 0.0
    total_events: int = 0
    per_item_mean: float = 0.0
    table_size: str = ""


def fill_ledger(url: str, county: County, target: int, rng: random.Random) -> FillResult:
    """COPY chained rows until the ledger holds ``target`` events; keeps head and projections."""
    result = FillResult()
    started = time.perf_counter()
    state = read_ledger(url)
    to_add = max(0, target - state.position)
    boxes = county.boxes
    order = [index % len(boxes) for index in range(to_add)]
    rng.shuffle(order)
    latest = max(p.last_event_at for p in state.projections.values() if p.last_event_at)
    times = spread(latest, datetime.now(UTC), to_add)
    progress = Progress("filling the ledger (hash + COPY)", to_add)
    with connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(COPY_SQL) as copy:
            for start in range(0, to_add, FILL_CHUNK):
                now = datetime.now(UTC)
                device = county.devices[(start // FILL_CHUNK) % len(county.devices)]
                scans = (
                    make_scan(rng, boxes[index], at)
                    for index, at in zip(order[start : start + FILL_CHUNK], times, strict=False)
                )
                chunk = 0
                for row in hashed_rows(scans, state, device, now):
                    copy.write_row(row)
                    chunk += 1
                progress.advance(chunk)
        log("  updating item projections and the ledger head …")
        cursor.execute(
            "CREATE TEMP TABLE bench_projection (id uuid PRIMARY KEY, state text, "
            "last_seq integer, last_position bigint, last_event_at timestamptz, "
            "current_site_id uuid, holder_id uuid, open_flags integer) ON COMMIT DROP"
        )
        with cursor.copy("COPY bench_projection FROM STDIN") as copy:
            for item_id in state.touched:
                p = state.projections[item_id]
                copy.write_row(
                    (
                        item_id,
                        p.state,
                        p.last_seq,
                        p.last_position,
                        p.last_event_at,
                        p.current_site_id,
                        p.holder_id,
                        p.open_flags,
                    )
                )
        cursor.execute(
            "UPDATE items SET state = p.state, last_seq = p.last_seq, "
            "last_position = p.last_position, last_event_at = p.last_event_at, "
            "current_site_id = p.current_site_id, holder_id = p.holder_id, "
            "open_flags = p.open_flags FROM bench_projection p WHERE items.id = p.id"
        )
        cursor.execute(
            "UPDATE ledger_head SET position = %s, hash = %s WHERE id = 1",
            (state.position, state.hash),
        )
        conn.commit()
    with connect(url, autocommit=True) as conn:
        log("  VACUUM ANALYZE …")
        conn.execute("VACUUM ANALYZE custody_events")
        conn.execute("VACUUM ANALYZE items")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('custody_events'))"
        ).fetchone()
        result.table_size = str(size[0]) if size else "?"
    result.added = to_add
    result.total_events = state.position
    result.per_item_mean = statistics.fmean(
        state.projections[item_id].last_seq for item_id, _ in boxes
    )
    result.seconds = time.perf_counter() - started
    return result


@dataclass(slots=True)
class LookupResult:
    http: dict[str, float] = field(default_factory=dict)
    http_lean: dict[str, float] = field(default_factory=dict)  # http.client, no httpx
    service: dict[str, float] = field(default_factory=dict)
    service_json: dict[str, float] = field(default_factory=dict)
    lookups: int = 0
    events_seen_mean: float = 0.0
    problems: list[str] = field(default_factory=list)


def lean_lookups(base: str, authorization: str, barcodes: Sequence[str]) -> dict[str, float]:
    """The same lookups through the standard library's http.client on one keep-alive
    connection: what the server takes, without most of a Python HTTP client's own cost."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    samples: list[float] = []
    progress = Progress("custody lookups over HTTP (http.client)", len(barcodes), "lookups")
    try:
        for barcode in barcodes:
            started = time.perf_counter()
            connection.request(
                "GET", f"/api/v1/items/{barcode}/custody", headers={"Authorization": authorization}
            )
            response = connection.getresponse()
            response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"{barcode}: HTTP {response.status}")
            progress.advance(1)
    finally:
        connection.close()
    return percentiles(samples)


@contextlib.contextmanager
def collector_frozen() -> Iterator[None]:
    """Keep this process's heap out of the garbage collector while lookups are timed.

    The benchmark holds the county, the generated scans and its own bookkeeping (hundreds
    of thousands of objects): a full collection walks them all, a pause of several
    milliseconds that lands in whichever lookup is being timed, every half second or so.
    A real client (a station's agent, a browser) carries no such heap.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def time_lookups(
    base: str, url: str, population: Sequence[str], count: int, seed: int, warmup: int
) -> LookupResult:
    """``count`` lookups of codes drawn from ``population`` three ways (httpx, http.client,
    in process), each pass with its own draw: a code a pass before just read would be
    served from warm buffers, which a random lookup in a real county is not."""
    barcodes, lean_codes, direct_codes = (
        random.Random(seed + n).choices(population, k=count) for n in range(3)
    )
    result = LookupResult(lookups=len(barcodes))
    with httpx.Client(base_url=base, timeout=60) as http:
        response = http.post(
            "/api/v1/auth/token", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        )
        response.raise_for_status()
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        for barcode in random.Random(seed + 3).choices(population, k=warmup):
            http.get(f"/api/v1/items/{barcode}/custody").raise_for_status()
        samples: list[float] = []
        bodies: list[tuple[int, bytes]] = []
        progress = Progress("custody lookups over HTTP", len(barcodes), "lookups")
        for barcode in barcodes:
            started = time.perf_counter()
            response = http.get(f"/api/v1/items/{barcode}/custody")
            samples.append(time.perf_counter() - started)
            bodies.append((response.status_code, response.content))
            progress.advance(1)
    result.http_lean = lean_lookups(base, http.headers["Authorization"], lean_codes)
    seen = []
    for barcode, (status, content) in zip(barcodes, bodies, strict=True):
        if status != 200:
            result.problems.append(f"{barcode}: HTTP {status}: {content[:200]!r}")
            continue
        chain = json.loads(content)
        seen.append(len(chain["events"]))
        if not chain["intact"]:
            result.problems.append(f"{barcode}: chain not intact")
    result.events_seen_mean = statistics.fmean(seen) if seen else 0.0
    result.http = percentiles(samples)

    engine = build_engine(url)
    factory = build_sessionmaker(engine)
    try:

        def direct(barcode: str) -> tuple[float, float]:
            # Read as the server reads it (autocommit on PostgreSQL).
            with read_scope(factory) as session:
                started = time.perf_counter()
                chain = custody_chain_by_barcode(session, barcode)
                called = time.perf_counter()
                chain.model_dump_json()
                return called - started, time.perf_counter() - started

        for barcode in random.Random(seed + 4).choices(population, k=warmup):
            direct(barcode)
        service: list[float] = []
        with_json: list[float] = []
        progress = Progress("custody_chain in process", len(direct_codes), "lookups")
        for barcode in direct_codes:
            call, total = direct(barcode)
            service.append(call)
            with_json.append(total)
            progress.advance(1)
    finally:
        engine.dispose()
    result.service = percentiles(service)
    result.service_json = percentiles(with_json)
    return result


# --- summary -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    return {**describe(), "load": load_average(), "code": code_version()}


def code_version() -> str:
    """The commit the server code comes from, and whether it has local changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "server"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} with local changes under server/" if dirty else commit


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def server_version(url: str) -> str:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0]}" if row else "PostgreSQL ?"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def ms(value: float) -> str:
    return f"{value:.1f}"


@dataclass(slots=True)
class Report:
    args: argparse.Namespace
    command: str
    started_at: datetime
    machine: dict[str, str] = field(default_factory=dict)
    postgres: str = ""
    county: County | None = None
    ingest: IngestResult | None = None
    raw_executemany_s: float = 0.0
    raw_copy_s: float = 0.0
    fill: FillResult | None = None
    lookup: LookupResult | None = None
    total_s: float = 0.0
    load_after: str = "?"
    server_errors: Counter[str] = field(default_factory=Counter)

    def markdown(self) -> str:
        a = self.args
        m = self.machine
        lines = [
            "## Ingest throughput and custody lookup latency",
            "",
            f"- Date: {self.started_at:%Y-%m-%d %H:%M} UTC, {self.total_s / 60:.1f} min in all",
            f"- Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, {self.postgres}, "
            f"Python {m['python']}, {m['speed']} (bench/machine.py); client, server and "
            "PostgreSQL share the machine "
            f"(1-minute load average {m['load']} before the run, {self.load_after} after)",
            f"- Command: `{self.command}` (server code: git {m['code']})",
            "",
            "| Figure | Result | Target | |",
            "|---|---|---|---|",
        ]
        ing = self.ingest
        if ing is not None:
            raw = ing.events / self.raw_executemany_s if self.raw_executemany_s else 0.0
            copy = ing.events / self.raw_copy_s if self.raw_copy_s else 0.0
            share = ing.rate / raw if raw else 0.0
            lat = percentiles(ing.batch_latencies)
            lines += [
                f"| API ingest, {ing.events:,} events in batches of {a.batch}, {a.clients} "
                f"client(s), {a.workers} worker(s) | **{ing.rate:,.0f} events/s** "
                f"({ing.seconds:.1f} s) | ≥ {TARGET_EVENTS_PER_S:,} events/s | "
                f"{met(ing.rate >= TARGET_EVENTS_PER_S)} |",
                f"| API batch latency p50 / p99 / max | {ms(lat['p50'])} / {ms(lat['p99'])} / "
                f"{ms(lat['max'])} ms | | |",
                f"| Raw ceiling: psycopg `executemany` INSERT, commit per {a.batch} | "
                f"{raw:,.0f} events/s ({self.raw_executemany_s:.1f} s) | | |",
                f"| Raw ceiling: psycopg `COPY`, commit per {a.batch} | {copy:,.0f} events/s "
                f"({self.raw_copy_s:.1f} s) | | |",
                f"| API ÷ raw `executemany` | **{share:.0%}** | ≥ {TARGET_RAW_SHARE:.0%} | "
                f"{met(share >= TARGET_RAW_SHARE)} |",
                f"| API ÷ raw `COPY` | {ing.rate / copy if copy else 0.0:.0%} | | |",
            ]
        look, fill = self.lookup, self.fill
        if look is not None and fill is not None:
            h, s, j = look.http, look.service, look.service_json
            lines += [
                f"| Custody lookup over HTTP, {fill.total_events:,} events stored "
                f"(~{fill.per_item_mean:.0f} per item), {look.lookups:,} lookups: "
                f"p50 / p95 / p99 / max | {ms(h['p50'])} / {ms(h['p95'])} / "
                f"**{ms(h['p99'])}** / {ms(h['max'])} ms | p99 ≤ {TARGET_P99_MS:.0f} ms | "
                f"{met(h['p99'] <= TARGET_P99_MS)} |",
                f"| … the same lookups with Python's `http.client` (keep-alive; the line "
                f"above uses httpx, whose own cost is in it): p50 / p95 / p99 / max | "
                f"{ms(look.http_lean['p50'])} / {ms(look.http_lean['p95'])} / "
                f"{ms(look.http_lean['p99'])} / {ms(look.http_lean['max'])} ms | | |",
                f"| `custody_chain_by_barcode` in process (no HTTP): p50 / p95 / p99 / max | "
                f"{ms(s['p50'])} / {ms(s['p95'])} / {ms(s['p99'])} / {ms(s['max'])} ms | | |",
                f"| … plus `model_dump_json()`: p50 / p95 / p99 / max | {ms(j['p50'])} / "
                f"{ms(j['p95'])} / {ms(j['p99'])} / {ms(j['max'])} ms | | |",
            ]
        lines.append("")
        if ing is not None:
            lines += [
                f"Ingest answered {ing.accepted:,} events accepted and {ing.flagged:,} "
                f"flagged (mostly seal/prepare out of sequence), {ing.duplicates:,} "
                f"duplicates; {ing.stored_rows:,} rows written of {ing.expected_rows:,} "
                f"expected. {len(ing.failed_requests)} request(s) failed (HTTP 500 or "
                "connection reset) and were sent again after a back-off, as a scanner agent "
                "would (the wall time includes that); "
                f"{len(ing.failed_batches)} batch(es) still failed after {a.retries} retries.",
                "",
            ]
            if ing.worker_cores:
                cores = " / ".join(f"{c:.2f}" for c in ing.worker_cores)
                lines += [
                    f"CPU of each server worker during the ingest phase: {cores} cores. "
                    "uvicorn's workers share one listening socket and the first to wake "
                    "accepts every connection waiting, so keep-alive clients that connect "
                    "at once can all land on one worker, which then serves them one batch "
                    "at a time while the other idles (0.00 above): such a run measures one "
                    "worker.",
                    "",
                ]
        if self.server_errors:
            lines += ["Exceptions the server logged (outermost, by count):", ""]
            lines += [f"- {count} × `{line}`" for line, count in self.server_errors.most_common(5)]
            lines.append("")
        lines += [
            "How it is measured: the set-up registers "
            f"{len(self.county.boxes) if self.county else 0:,} specimen boxes (one "
            "'registered' event each); the scans are generated before timing (mostly "
            "note/observed/temperature, 5 % prepare of routine blood, 5 % seal; each box's "
            "scans in the order they happened) and POSTed as pre-encoded JSON over "
            "keep-alive connections with device tokens. The wall time runs from the first "
            "request to the last answer. The raw ceilings insert the same scans, "
            "hashed beforehand into rows of the same shape (positions, item sequence, flags, "
            "prev_hash/hash), into two copies of the database taken before the API phase; "
            "only the INSERT/COPY and the commits are timed: no ledger-head lock, no "
            "duplicate check, no item projection or box facts update. For the lookups the "
            "ledger is filled by COPY of chained rows (head and projections kept valid; "
            "box facts not written), vacuumed, "
            f"and after {WARMUP_LOOKUPS} warm-up requests on other codes each lookup is "
            "timed on the client, one at a time, including the HTTP round trip on "
            "loopback: first with httpx (the target is judged on these), then with the "
            "standard library's http.client, which shows how much of that is the client's "
            "own Python rather than the server, then in process; each pass draws its own "
            "random codes (a code a pass before just read would come from warm buffers), "
            "with the benchmark's own heap (the county, the generated scans) frozen out of "
            "its garbage collector, whose full collections otherwise paused a timed lookup "
            "every half second or so. "
            "The custody lookup reads outside a transaction (`server.db.read_scope`): "
            "the token, the item, then its chain, checked against the item's sequence "
            "as of the chain's own statement.",
        ]
        return "\n".join(lines)


def write_docs(section: str, path: Path = DOCS) -> None:
    block = f"{START_MARK}\n{section}\n{END_MARK}"
    text = path.read_text() if path.exists() else DOCS_HEADER
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARK) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    log(f"wrote the figures into {path.relative_to(ROOT)}")


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Ingest throughput and custody lookup latency on PostgreSQL.",
    )
    parser.add_argument("--events", type=int, default=100_000, help="events for the ingest phase")
    parser.add_argument("--batch", type=int, default=500, help="events per POST and per commit")
    parser.add_argument("--clients", type=int, default=2, help="HTTP clients posting at once")
    parser.add_argument(
        "--lookup-events", type=int, default=1_000_000, help="events stored for the lookups"
    )
    parser.add_argument("--lookups", type=int, default=2000, help="timed custody lookups")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn worker processes (default: one per CPU, as `handoff serve --workers N` "
        "is meant to run in production; appends still take turns on the ledger head)",
    )
    parser.add_argument("--items", type=int, default=20_000, help="specimen boxes registered")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="admin connection; the benchmark creates and drops its own databases",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=10,
        help="times a failed ingest request is sent again, as a scanner agent would",
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed for the generated scans")
    parser.add_argument(
        "--verify", action="store_true", help="verify the whole ledger at the end (slow)"
    )
    parser.add_argument(
        "--hold-server",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long after the server starts (time to attach a profiler)",
    )
    parser.add_argument(
        "--server-log", type=Path, default=None, help="keep the server's output in this file"
    )
    parser.add_argument("--no-write-docs", action="store_true", help="leave docs/ alone")
    parser.add_argument(
        "--keep-databases",
        action="store_true",
        help="leave the benchmark's databases in place afterwards (to investigate; drop by hand)",
    )
    args = parser.parse_args(argv)
    for name in ("events", "batch", "clients", "lookups", "workers", "items"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.batch > 1000:
        parser.error("--batch may be at most 1000 (the server's batch limit here)")
    return args


def run(args: argparse.Namespace, databases: Databases, report: Report) -> None:
    rng = random.Random(args.seed)
    main_db = databases.create()
    url = databases.url(main_db)
    log(f"database {main_db}: migrating …")
    upgrade(url)
    report.postgres = server_version(url)

    log(f"phase 1: the county ({args.items:,} specimen boxes)")
    county = build_county(url, args.items)
    report.county = county
    log(f"  set up in {county.seconds:.1f} s")

    log("phase 4 preparation: copies of the database for the raw ceilings")
    executemany_url = databases.url(databases.create("_rawexec", template=main_db))
    copy_url = databases.url(databases.create("_rawcopy", template=main_db))
    before_api = read_ledger(url)

    log(f"phase 3 preparation: {args.events:,} scans in batches of {args.batch}")
    latest = max(p.last_event_at for p in before_api.projections.values() if p.last_event_at)
    batches = make_batches(county, args.events, args.batch, rng, latest)
    raw_state = before_api.copy()
    raw_batches: list[list[Row]] = []
    for batch in batches:
        raw_batches.append(
            list(hashed_rows(batch.scans, raw_state, batch.device, datetime.now(UTC)))
        )

    server = running_server(
        url, args.workers, max(args.batch, 1000), report.server_errors, args.server_log
    )
    with server as (base, pid):
        if args.hold_server:
            log(f"  holding {args.hold_server:.0f} s: server pid {pid}")
            time.sleep(args.hold_server)
        checkpoint(url)
        log(f"phase 3: API ingest, {args.clients} client(s)")
        workers_before, started = worker_cpu(pid), time.perf_counter()
        ingest = post_batches(base, batches, args.clients, args.retries)
        ingest.worker_cores = spread_over_workers(
            workers_before, worker_cpu(pid), time.perf_counter() - started
        )
        log("  CPU of each worker process: " + " / ".join(f"{c:.2f}" for c in ingest.worker_cores))
        ingest.stored_rows = count_events(url) - before_api.position
        ingest.expected_rows = args.events
        report.ingest = ingest
        log(f"  {ingest.rate:,.0f} events/s ({ingest.seconds:.1f} s)")
        if ingest.failed_requests:
            log(f"  PROBLEM: {len(ingest.failed_requests)} request(s) failed and were sent again:")
        for problem in ingest.failed_requests[:10]:
            log(f"    {problem}")
        for problem in ingest.failed_batches[:10]:
            log(f"  PROBLEM {problem}")
        if ingest.stored_rows != ingest.expected_rows:
            log(f"  PROBLEM: {ingest.stored_rows:,} rows stored, {ingest.expected_rows:,} expected")

        log("phase 4: raw ceilings")
        checkpoint(executemany_url)
        report.raw_executemany_s = insert_executemany(executemany_url, raw_batches)
        log(f"  executemany: {args.events / report.raw_executemany_s:,.0f} events/s")
        checkpoint(copy_url)
        report.raw_copy_s = insert_copy(copy_url, raw_batches)
        log(f"  COPY: {args.events / report.raw_copy_s:,.0f} events/s")
        del raw_batches

        log(f"phase 5: filling the ledger to {args.lookup_events:,} events")
        fill = fill_ledger(url, county, args.lookup_events, rng)
        report.fill = fill
        log(
            f"  {fill.added:,} events added in {fill.seconds:.1f} s; custody_events is "
            f"{fill.table_size}"
        )
        checkpoint(url)
        barcodes = [barcode for _, barcode in county.boxes]
        with collector_frozen():
            lookup = time_lookups(base, url, barcodes, args.lookups, args.seed + 1, WARMUP_LOOKUPS)
        report.lookup = lookup
        for problem in lookup.problems[:10]:
            log(f"  PROBLEM {problem}")

    if args.verify:
        from server.custody.service import verify_ledger

        log("verifying the whole ledger (hash chain and projections) …")
        engine = build_engine(url)
        try:
            with build_sessionmaker(engine)() as session:
                verdict = verify_ledger(session)
        finally:
            engine.dispose()
        log(
            f"  ok={verdict.ok} events={verdict.events_checked:,} "
            f"items={verdict.items_checked:,} in {verdict.seconds:.1f} s"
            + ("" if verdict.ok else f": {verdict.first_broken} {verdict.projection_mismatches}")
        )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    shown = list(argv) if argv is not None else sys.argv[1:]
    report = Report(
        args=args,
        command=shlex.join(["python", "-m", "bench.ingest", *shown]),
        started_at=datetime.now(UTC),
        machine=machine(),
    )
    databases = Databases(args.pg_url)
    started = time.perf_counter()
    load = report.machine["load"]
    if load != "?" and float(load) > 0.5:
        log(f"note: load average {load} before the run: other work will skew the figures")
    try:
        run(args, databases, report)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if args.keep_databases:
                log("kept databases: " + ", ".join(databases.created))
            else:
                databases.drop()
    report.total_s = time.perf_counter() - started
    report.load_after = load_average()
    section = report.markdown()
    print(section)
    if not args.no_write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
