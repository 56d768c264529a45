"""A year of a busy CSSD on PostgreSQL: board, recall report and pack history latency.

Run as ``python -m bench.cssd [--days 365] [--packs-per-day 3000] ...``. It creates its own
database ``handoff_bench_cssd_<random>`` on the PostgreSQL server named by ``--pg-url``,
drops it at the end (also on error or Ctrl-C; ``--keep`` leaves it), never fails on timing,
prints the figures, marks the targets of issue 4 item 7 met or not met and (unless
``--no-write-docs``) writes them into ``docs/benchmarks.md`` between the cssd markers.

Phases:

1. Set-up through the services: sites (county hospital, CSSD, six township clinics), ~20
   staff with an admin who can log in, a scanner per site, ten set templates, two washers
   and four pre-vacuum steam sterilizers.
2. A year of history, simulated day by day and written straight into the tables: every
   set is registered, returned, collected, received, washed (washer cycles), inspected and
   packed; every pack is loaded (loads of ~30 on the sterilizers, daily Bowie-Dick, weekly
   biological indicator riding in the first load of the day), sterilized, unloaded,
   released, stored, dispatched on a courier run, delivered, used on a patient — and the
   set goes back again. Each event is the row ``ledger.append`` would write: positions in
   arrival order, per-item sequence, the lifecycle checked for every step (a flagged step
   is a bug here), ``event_hash`` chaining every row to the one before. Events are COPYed
   a simulated day at a time; items, packs, cycles, cycle items, tests and audit records
   at the end, with the ledger head and the item projections. The big tables' indexes and
   foreign keys are dropped during the load and re-created after it from their own
   definitions (the schema ends up exactly as migrated), then VACUUM ANALYZE.
3. A real ``uvicorn`` server and an admin token: ``GET /api/v1/cssd/board``; the custody
   chain of ``--lookups`` random packs; a failed biological indicator on ST1 through the
   API (which recalls a week of its loads) and ``GET /api/v1/cssd/recalls/{number}``.
4. In-process statement timings of each read, with EXPLAIN (ANALYZE, BUFFERS) of the
   slowest statements, and a summary on stdout and in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import cProfile
import heapq
import json
import os
import pstats
import queue
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.ingest import lean_lookups
from bench.machine import describe
from labels.identity import Kind, new_id
from server.config import Settings
from server.cssd import reads
from server.cssd import service as cssd
from server.cssd.rules import MachineKind, Material, Method, StorageCondition, TestKind
from server.cssd.schemas import Instrument, MachineCreate, TemplateCreate, TestIn
from server.custody import ledger
from server.custody.chain import ChainedFields, event_hash
from server.custody.lifecycle import ACTOR_TAKES, COUNTERPARTY_TAKES, apply
from server.custody.projection import rebuild
from server.db import build_engine, build_sessionmaker, session_scope
from server.devices.schemas import DeviceCreate
from server.devices.service import create_device
from server.enums import ItemKind, Role, SiteKind
from server.items.service import custody_chain_by_barcode
from server.migrate import upgrade
from server.models import CustodyEvent, Person
from server.people.schemas import PersonCreate
from server.people.service import create_person
from server.sites.schemas import SiteCreate
from server.sites.service import create_site

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- cssd:start -->"
END_MARK = "<!-- cssd:end -->"
NOTES_START = "<!-- cssd:notes:start -->"  # kept across runs: analysis written by hand
NOTES_END = "<!-- cssd:notes:end -->"
DOCS_HEADER = "# Benchmarks\n"

TARGET_BOARD_MS = 200.0
TARGET_RECALL_MS = 500.0
TARGET_HISTORY_P99_MS = 10.0

ADMIN_USERNAME = "bench-admin"
ADMIN_PASSWORD = "bench-password-123"
BOARD_RUNS, BOARD_WARMUPS = 20, 3
RECALL_RUNS, RECALL_WARMUPS = 20, 3
HISTORY_WARMUPS = 200
RECALL_STERILIZER = "ST1"
PROFILE_STERILIZER = "ST2"  # its recall is profiled in process and rolled back

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Sets come back from the clinics and leave clean on three courier runs a day.
RUNS = (clock_time(6, 0), clock_time(10, 30), clock_time(14, 30))
# Washers and sterilizers start no cycle outside these local hours (Bowie-Dick at 05:30).
WASH_HOURS = (6.0, 23.0)
LOAD_HOURS = (6.0, 23.0 + 55 / 60)
WASH_CAPACITY, WASH_MIN, WASH_MAX_WAIT = (75, 95), 30, 20 * MINUTE
LOAD_CAPACITY, LOAD_MIN, LOAD_MAX_WAIT = (28, 38), 18, 30 * MINUTE
LOAD_LEAD = 8 * MINUTE  # from packing to the earliest start of its load
SETS_PER_DAILY_PACK = 3.4  # sets in circulation per pack made a day (turnaround ~2.9 days)

SITES: tuple[tuple[str, SiteKind, str, str, int, float], ...] = (
    # code, kind, name_zh, name_en, minutes from the CSSD on the courier route, share of sets
    ("CH", SiteKind.county_hospital, "县人民医院", "County People's Hospital", 8, 0.50),
    ("CSSD", SiteKind.cssd, "区域消毒供应中心", "Regional Central Sterile Supply", 0, 0.0),
    ("T01", SiteKind.township_clinic, "城关镇卫生院", "Chengguan Health Centre", 30, 0.10),
    ("T02", SiteKind.township_clinic, "新店镇卫生院", "Xindian Health Centre", 55, 0.09),
    ("T03", SiteKind.township_clinic, "白沙镇卫生院", "Baisha Health Centre", 80, 0.09),
    ("T04", SiteKind.township_clinic, "石桥镇卫生院", "Shiqiao Health Centre", 105, 0.08),
    ("T05", SiteKind.township_clinic, "龙泉镇卫生院", "Longquan Health Centre", 130, 0.07),
    ("T06", SiteKind.township_clinic, "马坪镇卫生院", "Maping Health Centre", 155, 0.07),
)
ROUTE_BACK_MINUTES = 185

TEMPLATES: tuple[tuple[str, str, str, list[tuple[str, int]], Material, float], ...] = (
    ("DRESS", "换药包", "Dressing change set", [("镊子", 2), ("弯盘", 1)], Material.nonwoven, 24),
    ("SUTURE", "清创缝合包", "Debridement and suture set",
     [("持针器", 1), ("组织镊", 2), ("线剪", 1)], Material.nonwoven, 16),
    ("CATH", "导尿包", "Urinary catheterisation set", [("卵圆钳", 1), ("弯盘", 1)],
     Material.crepe_paper, 12),
    ("DENTAL", "口腔器械包", "Dental instrument set", [("口镜", 1), ("探针", 1), ("镊子", 1)],
     Material.paper_plastic_pouch, 12),
    ("GYN", "妇科检查包", "Gynaecological examination set", [("窥阴器", 1), ("卵圆钳", 1)],
     Material.nonwoven, 10),
    ("DELIVERY", "产包", "Delivery set", [("脐带剪", 1), ("止血钳", 2), ("弯盘", 1)],
     Material.nonwoven, 8),
    ("ENT", "耳鼻喉器械包", "ENT instrument set", [("耳镜", 1), ("鼻镜", 1)],
     Material.paper_plastic_pouch, 6),
    ("LAP", "剖腹包", "Laparotomy set", [("止血钳", 12), ("持针器", 2), ("拉钩", 2)],
     Material.rigid_container, 5),
    ("ORTHO", "骨科器械包", "Orthopaedic instrument set", [("骨凿", 2), ("咬骨钳", 1)],
     Material.rigid_container, 4),
    ("GOWN", "手术衣包", "Surgical gown pack", [("手术衣", 4)], Material.textile, 3),
)  # fmt: skip

EVENT_COLUMNS = (
    "position", "event_id", "item_id", "item_seq", "type", "actor_id", "counterparty_id",
    "site_id", "device_id", "occurred_at", "received_at", "details", "schema_version",
    "flag_code", "flags", "prev_hash", "hash",
)  # fmt: skip
COPY_EVENTS = f"COPY custody_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
BULK_TABLES = (
    "custody_events", "items", "packs", "cycles", "cycle_items", "set_assets", "machine_tests",
)  # fmt: skip

UID = uuid.UUID
Event = tuple[
    Any, ...
]  # (received_at, order, item, type, actor, cp, site, device, at, details, json)


# --- output ----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


def copy_json(value: Any) -> str:
    """JSON in COPY text format (backslashes doubled; json.dumps never emits tabs/newlines)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("\\", "\\\\")


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


class Database:
    """The benchmark's own database, created under a random name and dropped by ``drop``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"handoff_bench_cssd_{secrets.token_hex(4)}"
        self.created = False

    @property
    def url(self) -> str:
        return make_url(self.admin_url).set(database=self.name).render_as_string(False)

    def create(self) -> str:
        with connect(self.admin_url, autocommit=True) as admin:
            self.created = True
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        if not self.created:
            return
        with connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False
        log(f"dropped database {self.name}")


def other_benchmarks() -> list[str]:
    """Other ``bench.*`` processes (not this one or its ancestors)."""
    mine = set()
    pid = os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    try:
        out = subprocess.run(
            ["pgrep", "-af", r"bench\."], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return []
    found = []
    for line in out.splitlines():
        pid_text, _, command = line.partition(" ")
        if pid_text.isdigit() and int(pid_text) not in mine and command:
            found.append(line if len(line) < 160 else line[:160] + "…")
    return found


def wait_until_quiet(what: str, max_wait_s: float, max_load: float | None = None) -> float:
    """Poll every 60 s while another benchmark runs (and, if ``max_load`` is given, every
    20 s while the 1-minute load average is above it, for at most 10 minutes); returns the
    seconds waited."""
    started = time.monotonic()
    while True:
        others = other_benchmarks()
        if not others:
            break
        waited = time.monotonic() - started
        if waited >= max_wait_s:
            log(f"  other benchmarks still running after {waited:.0f} s; going ahead with {what}")
            return waited
        log(f"  waiting before {what}: another benchmark is running: {others[0]}")
        time.sleep(60)
    load_started = time.monotonic()
    while max_load is not None and os.getloadavg()[0] > max_load:
        if time.monotonic() - load_started > 600:
            log(f"  load average still {os.getloadavg()[0]:.1f} after 10 min; going ahead")
            break
        log(f"  waiting before {what}: load average {os.getloadavg()[0]:.1f} > {max_load}")
        time.sleep(20)
    return time.monotonic() - started


# --- phase 1: the county through the services ----------------------------------------------


@dataclass(slots=True)
class SiteInfo:
    code: str
    id: UID
    device: UID
    staff: list[UID]
    route_minutes: int
    share: float


@dataclass(slots=True)
class TemplateInfo:
    id: UID
    code: str
    description: str
    material: Material
    storage: StorageCondition | None
    weight: float


@dataclass(slots=True)
class MachineInfo:
    id: UID
    code: str
    free: datetime
    bi_offset: int = 0
    bi_day: int = -1


@dataclass(slots=True)
class County:
    sites: dict[str, SiteInfo]
    cssd_staff: list[UID]
    couriers: list[UID]
    admin: UID
    templates: list[TemplateInfo]
    washers: list[MachineInfo]
    sterilizers: list[MachineInfo]
    head_position: int
    head_hash: str
    people: int


def clinic(kind: SiteKind) -> bool:
    return kind == SiteKind.township_clinic


def build_county(url: str, first_day: datetime) -> County:
    """Sites, people, scanners, templates and machines through the services."""
    engine = build_engine(url)
    factory = build_sessionmaker(engine)
    rng = random.Random(11)
    try:
        with session_scope(factory) as session:
            for code, kind, zh, en, _, _ in SITES:
                create_site(
                    session,
                    None,
                    SiteCreate(
                        code=code,
                        kind=kind,
                        name_zh=zh,
                        name_en=en,
                        latitude=round(30.25 + rng.uniform(-0.2, 0.2), 5),
                        longitude=round(115.05 + rng.uniform(-0.2, 0.2), 5),
                        opens_at=clock_time(8, 0) if clinic(kind) else clock_time(7, 0),
                        closes_at=clock_time(17, 30) if clinic(kind) else clock_time(21, 0),
                        parent_code="CH" if code == "CSSD" else None,
                    ),
                )
            names = iter(
                a + b for a in "王李张刘陈杨黄赵吴周徐孙马朱胡郭" for b in "伟芳娜敏静丽强磊军洋"
            )

            def person(role: Role, site: str, username: str | None = None) -> Person:
                return create_person(
                    session,
                    None,
                    PersonCreate(
                        name=next(names),
                        role=role,
                        home_site=site,
                        username=username,
                        password=ADMIN_PASSWORD if username else None,
                    ),
                )

            admin = person(Role.admin, "CH", ADMIN_USERNAME)
            cssd_staff = [person(Role.cssd_staff, "CSSD") for _ in range(8)]
            couriers = [person(Role.courier, "CH") for _ in range(4)]
            sites: dict[str, SiteInfo] = {}
            for code, kind, _, _, minutes, share in SITES:
                staff = (
                    [person(Role.clinic_staff, code) for _ in range(2 if code == "CH" else 1)]
                    if kind != SiteKind.cssd
                    else []
                )
                device, _ = create_device(
                    session, None, DeviceCreate(name=f"{code} 扫码台", site=code)
                )
                site_id = device.site_id
                sites[code] = SiteInfo(
                    code, site_id, device.id, [p.id for p in staff], minutes, share
                )
            templates = []
            for code, zh, en, instruments, material, weight in TEMPLATES:
                template = cssd.create_template(
                    session,
                    cssd_staff[0],
                    TemplateCreate(
                        code=code,
                        name_zh=zh,
                        name_en=en,
                        packaging_material=material,
                        method=Method.steam,
                        instruments=[Instrument(name=n, count=c) for n, c in instruments],
                    ),
                )
                storage = StorageCondition.compliant if material == Material.textile else None
                templates.append(
                    TemplateInfo(template.id, code, f"{zh} {en}", material, storage, weight)
                )
            washers, sterilizers = [], []
            for n in (1, 2):
                machine = cssd.create_machine(
                    session,
                    cssd_staff[0],
                    MachineCreate(
                        code=f"WD{n}",
                        name=f"全自动清洗消毒器{n}",
                        kind=MachineKind.washer,
                        site="CSSD",
                    ),
                )
                washers.append(MachineInfo(machine.id, machine.code, first_day))
            for n in (1, 2, 3, 4):
                machine = cssd.create_machine(
                    session,
                    cssd_staff[0],
                    MachineCreate(
                        code=f"ST{n}",
                        name=f"脉动真空灭菌器{n}",
                        kind=MachineKind.sterilizer,
                        site="CSSD",
                        method=Method.steam,
                        prevacuum=True,
                    ),
                )
                sterilizers.append(MachineInfo(machine.id, machine.code, first_day))
            head = ledger.lock_head(session)
            people = 1 + len(cssd_staff) + len(couriers) + sum(len(s.staff) for s in sites.values())
            county = County(
                sites,
                [p.id for p in cssd_staff],
                [p.id for p in couriers],
                admin.id,
                templates,
                washers,
                sterilizers,
                head.position,
                head.hash,
                people,
            )
    finally:
        engine.dispose()
    return county


# --- phase 2: bulk loading -----------------------------------------------------------------


@dataclass(slots=True)
class Definitions:
    """The big tables' keys, indexes and foreign keys, to re-create after the load."""

    keys: list[tuple[str, str, str]] = field(default_factory=list)  # table, name, definition
    indexes: list[tuple[str, str]] = field(default_factory=list)  # name, CREATE INDEX …
    foreign: list[tuple[str, str, str]] = field(default_factory=list)


def drop_constraints(url: str) -> Definitions:
    """Drop keys, indexes and foreign keys on (and into) the bulk tables; return them."""
    found = Definitions()
    with connect(url) as conn:
        tables = [f"public.{name}" for name in BULK_TABLES]
        rows = conn.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
            FROM pg_constraint c
            WHERE (c.contype IN ('p', 'u') AND c.conrelid = ANY(%(t)s::regclass[]))
               OR (c.contype = 'f' AND (c.conrelid = ANY(%(t)s::regclass[])
                                        OR c.confrelid = ANY(%(t)s::regclass[])))
            ORDER BY c.conrelid::regclass::text, c.conname
            """,
            {"t": tables},
        ).fetchall()
        for table, name, definition, kind in rows:
            target = found.foreign if kind == "f" else found.keys
            target.append((table, name, definition))
        found.indexes = [
            (name, definition)
            for name, definition in conn.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = ANY(%(t)s::regclass[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                  WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
                ORDER BY 1
                """,
                {"t": tables},
            ).fetchall()
        ]
        for table, name, _ in found.foreign:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.SQL(table), sql.Identifier(name)
                )
            )
        for table, name, _ in found.keys:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.SQL(table), sql.Identifier(name)
                )
            )
        for name, _ in found.indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
        conn.commit()
    return found


def restore_constraints(url: str, found: Definitions) -> dict[str, float]:
    """Re-create what ``drop_constraints`` dropped; returns seconds per step."""
    seconds: dict[str, float] = {}
    with connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        for table, name, definition in found.keys:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
                )
            )
        for _, definition in found.indexes:
            conn.execute(sql.SQL(definition))
        seconds["keys and indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        for table, name, definition in found.foreign:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
                )
            )
        seconds["foreign keys (validated)"] = time.perf_counter() - started
    return seconds


class EventWriter:
    """COPYs event rows on its own thread, a simulated day per transaction."""

    def __init__(self, url: str) -> None:
        self.conn = connect(url)
        self.queue: queue.Queue[str | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="copy-events", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                data = self.queue.get()
                if data is None:
                    return
                with self.conn.cursor() as cursor, cursor.copy(COPY_EVENTS) as copy:
                    copy.write(data)
                self.conn.commit()
        except BaseException as error:  # reported by put/close on the main thread
            self.error = error
            while self.queue.get() is not None:
                pass

    def put(self, data: str) -> None:
        if self.error is not None:
            raise RuntimeError(f"COPY of events failed: {self.error}") from self.error
        self.queue.put(data)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.conn.close()
        if self.error is not None:
            raise RuntimeError(f"COPY of events failed: {self.error}") from self.error


# --- phase 2: the simulated year ------------------------------------------------------------


@dataclass(slots=True)
class Tray:
    item: int
    template: int
    site: str
    cycles_done: int = 0


@dataclass(slots=True)
class PackRec:
    item: int
    tray: int
    template: int
    packer: UID
    checker: UID
    packed_at: datetime
    load: UID | None = None
    sterilized_on: date | None = None
    expires_on: date | None = None
    patient_ref: str | None = None
    used_at: datetime | None = None


@dataclass(slots=True)
class CycleRec:
    id: UID
    barcode: str
    number: str
    kind: str
    machine: UID
    program: str
    status: str
    operator: UID
    created_at: datetime
    modified_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    parameters: dict[str, Any]
    unload: dict[str, Any]
    bi_passed: bool | None = None
    released_by: UID | None = None
    released_at: datetime | None = None


@dataclass(slots=True)
class Totals:
    events: int = 0
    packs: int = 0
    sets: int = 0
    loads: int = 0
    washes: int = 0
    cycle_items: int = 0
    tests: int = 0
    seconds_hashing: float = 0.0
    seconds_simulating: float = 0.0


class Year:
    """Simulates the CSSD day by day and writes the ledger in arrival order."""

    def __init__(
        self,
        county: County,
        zone: ZoneInfo,
        first: date,
        days: int,
        packs_per_day: int,
        sets: int,
        seed: int,
        writer: EventWriter,
    ) -> None:
        self.c = county
        self.zone = zone
        self.days = days
        self.ppd = packs_per_day
        self.rng = random.Random(seed)
        self.writer = writer
        self.midnights = [
            datetime.combine(first + timedelta(days=d), clock_time(0), zone).astimezone(UTC)
            for d in range(days + 60)
        ]
        self.cutoff = self.midnights[days]
        self.cssd_site = county.sites["CSSD"].id
        # items: parallel arrays, indexed by an int
        self.uuid: list[UID] = []
        self.hex: list[str] = []
        self.barcode: list[str] = []
        self.is_pack: list[bool] = []
        self.created: list[datetime] = []
        self.state: list[str | None] = []
        self.seq: list[int] = []
        self.last_pos: list[int] = []
        self.last_at: list[datetime | None] = []
        self.site: list[UID | None] = []
        self.holder: list[UID | None] = []
        self.barcodes_seen: set[str] = set()
        self.trays: list[Tray] = []
        self.packs: list[PackRec] = []
        self.cycles: list[CycleRec] = []
        self.cycle_items: list[tuple[UID, int, datetime, bool]] = []
        self.tests: list[tuple[Any, ...]] = []
        self.audits: list[tuple[Any, ...]] = []
        self.cycle_counts: dict[tuple[str, date], int] = {}
        # queues that carry across runs and days
        self.pool: dict[str, list[tuple[datetime, int]]] = {code: [] for code in county.sites}
        self.to_wash: list[tuple[datetime, int]] = []
        self.to_load: list[tuple[datetime, int]] = []
        self.stock: list[tuple[datetime, int, int]] = []  # (available, order, pack index)
        # the ledger
        self.buckets: dict[int, list[Event]] = {}
        self.flushed_before = 0
        self.order = 0
        self.position = county.head_position
        self.prev_hash = county.head_hash
        self.transitions: dict[tuple[bool, str | None, str], str] = {}
        self.hexes: dict[int, str] = {id(None): "\\N"}
        self.keep_alive: list[UID] = []
        self.totals = Totals()
        self.patients = 0
        self.sets_wanted = sets
        self.tpl_weights = [t.weight for t in county.templates]
        self.details_registered = [{"description": t.description} for t in county.templates]
        self.json_registered = [copy_json(d) for d in self.details_registered]
        self.bi_target = days % 7  # ST1: passed BI on day days-7, the next one is "today"
        for index, machine in enumerate(county.sterilizers):
            machine.bi_offset = (self.bi_target + (0 if index < 2 else 3)) % 7

    # -- time ----------------------------------------------------------------------------

    def day_of(self, moment: datetime) -> int:
        return bisect.bisect_right(self.midnights, moment) - 1

    def at(self, day: int, when: clock_time) -> datetime:
        return self.midnights[day] + timedelta(hours=when.hour, minutes=when.minute)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def fit(self, moment: datetime, hours: tuple[float, float]) -> datetime:
        """The first moment at or after ``moment`` inside the daily working hours."""
        day = self.day_of(moment)
        opens = self.midnights[day] + timedelta(hours=hours[0])
        if moment < opens:
            return opens + self.rng.uniform(0, 5) * MINUTE
        if moment > self.midnights[day] + timedelta(hours=hours[1]):
            return (
                self.midnights[day + 1]
                + timedelta(hours=hours[0])
                + self.rng.uniform(0, 5) * MINUTE
            )
        return moment

    def daytime(self, moment: datetime) -> datetime:
        """Clinic activity happens 07:30–21:00; later moves to the next morning."""
        day = self.day_of(moment)
        hours = (moment - self.midnights[day]) / HOUR
        if hours < 7.5:
            return self.midnights[day] + timedelta(hours=7.5 + self.rng.uniform(0, 2))
        if hours > 21:
            return self.midnights[day + 1] + timedelta(hours=7.5 + self.rng.uniform(0, 2))
        return moment

    # -- items and events ----------------------------------------------------------------

    def new_item(self, kind: Kind, is_pack: bool, created: datetime, site: UID | None) -> int:
        while True:
            barcode = new_id(kind, self.rng)
            if barcode not in self.barcodes_seen:
                break
        self.barcodes_seen.add(barcode)
        item_id = UID(int=self.rng.getrandbits(128), version=4)
        self.uuid.append(item_id)
        self.hex.append(item_id.hex)
        self.barcode.append(barcode)
        self.is_pack.append(is_pack)
        self.created.append(created)
        self.state.append(None)
        self.seq.append(0)
        self.last_pos.append(0)
        self.last_at.append(None)
        self.site.append(site)
        self.holder.append(None)
        return len(self.uuid) - 1

    def emit(
        self,
        at: datetime,
        item: int,
        event_type: str,
        actor: UID | None,
        details: dict[str, Any],
        details_json: str,
        *,
        counterparty: UID | None = None,
        site: UID | None = None,
        device: UID | None = None,
        received: datetime | None = None,
    ) -> None:
        received = received or at
        if received >= self.cutoff:
            return
        bucket = self.day_of(received)
        if bucket < self.flushed_before:
            raise AssertionError(f"event at {received} generated after its day was written")
        self.order += 1
        self.buckets.setdefault(bucket, []).append(
            (received, self.order, item, event_type, actor, counterparty, site, device, at,
             details, details_json)
        )  # fmt: skip

    def hexed(self, value: UID | None) -> str:
        """Hex of a person, site or device ID, cached by object identity (a UUID's own
        ``__hash__`` is Python code and slower than the lookup it serves)."""
        key = id(value)
        text = self.hexes.get(key)
        if text is None:
            assert value is not None
            self.keep_alive.append(value)
            text = self.hexes[key] = value.hex
        return text

    def transition(self, is_pack: bool, state: str | None, event_type: str) -> str:
        kind = ItemKind.pack if is_pack else ItemKind.instrument_set
        outcome = apply(kind, state, event_type)
        if outcome.flag is not None:
            raise AssertionError(f"generated {event_type} on a {kind} in {state}: {outcome.flag}")
        self.transitions[(is_pack, state, event_type)] = outcome.state
        return outcome.state

    def flush(self, before_day: int) -> None:
        """Hash and write every event of the days before ``before_day``, in arrival order."""
        days = sorted(day for day in self.buckets if day < before_day)
        self.flushed_before = max(self.flushed_before, before_day)
        if not days:
            return
        started = time.perf_counter()
        events: list[Event] = []
        for day in days:
            events.extend(self.buckets.pop(day))
        events.sort()
        out: list[str] = []
        append = out.append
        position, prev = self.position, self.prev_hash
        uuids, hexes, is_pack = self.uuid, self.hex, self.is_pack
        states, seqs, last_pos, last_at = self.state, self.seq, self.last_pos, self.last_at
        sites, holders = self.site, self.holder
        transitions, getbits = self.transitions, self.rng.getrandbits
        hexes_get, hexed = self.hexes.get, self.hexed
        no_flags: list[dict[str, Any]] = []
        last_moment: datetime | None = None
        last_text = ""
        for received, _, item, etype, actor, cp, site, device, at, details, djson in events:
            position += 1
            seq = seqs[item] + 1
            state = transitions.get((is_pack[item], states[item], etype))
            if state is None:
                state = self.transition(is_pack[item], states[item], etype)
            event_id = UID(int=getbits(128), version=4)
            digest = event_hash(
                ChainedFields(
                    position, event_id, uuids[item], seq, etype, actor, cp, site, device,
                    at, received, details, 1, None, no_flags,
                ),
                prev,
            )  # fmt: skip
            if at is not last_moment:  # the events of one command share their moment
                last_moment, last_text = at, at.isoformat()
            append(
                f"{position}\t{event_id.hex}\t{hexes[item]}\t{seq}\t{etype}\t"
                f"{hexes_get(id(actor)) or hexed(actor)}\t{hexes_get(id(cp)) or hexed(cp)}\t"
                f"{hexes_get(id(site)) or hexed(site)}\t{hexes_get(id(device)) or hexed(device)}"
                f"\t{last_text}\t{last_text if received is at else received.isoformat()}\t"
                f"{djson}\t1\t\\N\t[]\t{prev}\t{digest}\n"
            )
            prev = digest
            states[item] = state
            seqs[item] = seq
            last_pos[item] = position
            last_at[item] = at
            if site is not None:
                sites[item] = site
            if etype in ACTOR_TAKES:
                if actor is not None:
                    holders[item] = actor
            elif etype in COUNTERPARTY_TAKES and cp is not None:
                holders[item] = cp
        self.totals.events += position - self.position
        self.position, self.prev_hash = position, prev
        self.totals.seconds_hashing += time.perf_counter() - started
        self.writer.put("".join(out))

    # -- the workflow --------------------------------------------------------------------

    def staff(self) -> UID:
        return self.rng.choice(self.c.cssd_staff)

    def register_sets(self) -> None:
        """Day 0: every set registered, in use at its home site, then handed back."""
        rng, sites = self.rng, self.c.sites
        codes = [code for code, *_ in SITES if sites[code].share > 0]
        shares = [sites[code].share for code in codes]
        start = self.midnights[0] + timedelta(hours=3)
        registrar = self.c.cssd_staff[0]
        for n in range(self.sets_wanted):
            template = rng.choices(range(len(self.c.templates)), self.tpl_weights)[0]
            code = rng.choices(codes, shares)[0]
            home = sites[code]
            when = start + n * 0.25 * SECOND
            item = self.new_item(Kind.INSTRUMENT_SET, False, when, None)
            self.trays.append(Tray(item, template, code))
            self.emit(
                when,
                item,
                "registered",
                registrar,
                self.details_registered[template],
                self.json_registered[template],
                site=home.id,
            )
            self.return_used(len(self.trays) - 1, start + HOUR + rng.uniform(0, 100) * MINUTE)
        self.totals.sets = len(self.trays)

    def return_used(self, tray_index: int, at: datetime) -> None:
        tray = self.trays[tray_index]
        home = self.c.sites[tray.site]
        received = at + self.rng.uniform(1, 30) * SECOND
        self.emit(
            at,
            tray.item,
            "return_used",
            self.rng.choice(home.staff),
            {},
            "{}",
            site=home.id,
            device=home.device,
            received=received,
        )
        heapq.heappush(self.pool[tray.site], (received, tray_index))

    def bowie_dick(self, day: int) -> None:
        for index, machine in enumerate(self.c.sterilizers):
            at = (
                self.midnights[day]
                + timedelta(hours=5.5)
                + (4 * index + self.rng.uniform(0, 3)) * MINUTE
            )
            self.record_test(machine, TestKind.bowie_dick, at, None, None)

    def record_test(
        self,
        machine: MachineInfo,
        kind: TestKind,
        at: datetime,
        cycle: UID | None,
        load_number: str | None,
    ) -> None:
        if at >= self.cutoff:
            return
        operator = self.staff()
        self.tests.append(
            (UID(int=self.rng.getrandbits(128), version=4), machine.id, kind.value, True, at,
             self.local_date(at), cycle, operator, None, None)
        )  # fmt: skip
        self.audits.append(
            (at, operator, "machine.test", "machine", machine.code,
             Jsonb({"kind": kind.value, "passed": True, "load": load_number}))
        )  # fmt: skip
        self.totals.tests += 1

    def cycle_number(self, machine: MachineInfo, at: datetime) -> str:
        day = self.local_date(at)
        count = self.cycle_counts.get((machine.code, day), 0) + 1
        self.cycle_counts[(machine.code, day)] = count
        return f"{machine.code}-{day:%Y%m%d}-{count:02d}"

    def run(self, day: int, run_index: int, quota: int) -> None:
        """A courier run: clean packs out, used sets back, received at the CSSD."""
        rng, sites, cutoff = self.rng, self.c.sites, self.cutoff
        departs = self.at(day, RUNS[run_index]) + rng.uniform(0, 10) * MINUTE
        courier = self.c.couriers[(day * len(RUNS) + run_index) % len(self.c.couriers)]
        stops = {
            code: departs + (info.route_minutes + rng.uniform(0, 6)) * MINUTE
            for code, info in sites.items()
            if info.share > 0
        }
        # dispatch what is in stock, by destination, and deliver it on the way
        ready: list[int] = []
        while self.stock and self.stock[0][0] < departs - 25 * MINUTE:
            ready.append(heapq.heappop(self.stock)[2])
        by_site: dict[str, list[int]] = {}
        for pack_index in ready:
            by_site.setdefault(self.trays[self.packs[pack_index].tray].site, []).append(pack_index)
        dispatcher = self.staff()
        for k, code in enumerate(sorted(by_site, key=lambda c: sites[c].route_minutes)):
            site = sites[code]
            group = sorted(by_site[code], key=lambda p: self.barcode[self.packs[p].item])
            sent = departs - (20 - k) * MINUTE
            receiver = rng.choice(site.staff)
            details = {"destination": code}
            djson = copy_json(details)
            for pack_index in group:
                self.emit(
                    sent,
                    self.packs[pack_index].item,
                    "dispatch",
                    dispatcher,
                    details,
                    djson,
                    counterparty=courier,
                    site=self.cssd_site,
                )
            for pack_index in group:
                self.emit(
                    stops[code],
                    self.packs[pack_index].item,
                    "deliver",
                    courier,
                    {},
                    "{}",
                    counterparty=receiver,
                    site=site.id,
                )
            for pack_index in group:
                self.use(pack_index, stops[code])
        # collect used sets: the oldest returned first, up to the run's share of the day
        eligible: list[tuple[datetime, int]] = []
        for code, stop in stops.items():
            heap = self.pool[code]
            while heap and heap[0][0] < stop - 2 * MINUTE:
                eligible.append(heapq.heappop(heap))
        eligible.sort()
        for entry in eligible[quota:]:
            heapq.heappush(self.pool[self.trays[entry[1]].site], entry)
        taken = eligible[:quota]
        per_site: dict[str, int] = {}
        collected: list[int] = []
        for _, tray_index in sorted(
            taken, key=lambda e: sites[self.trays[e[1]].site].route_minutes
        ):
            tray = self.trays[tray_index]
            site = sites[tray.site]
            n = per_site.get(tray.site, 0)
            per_site[tray.site] = n + 1
            at = stops[tray.site] + 2 * MINUTE + n * 4 * SECOND
            self.emit(
                at,
                tray.item,
                "collect",
                courier,
                {},
                "{}",
                counterparty=rng.choice(site.staff),
                site=site.id,
                device=site.device,
                received=at + rng.uniform(1, 20) * SECOND,
            )
            collected.append(tray_index)
        back = departs + (ROUTE_BACK_MINUTES + rng.uniform(0, 10)) * MINUTE
        receivers = rng.sample(self.c.cssd_staff, 3)
        for n, tray_index in enumerate(collected):
            at = back + 3 * MINUTE + n * 5 * SECOND
            self.emit(
                at,
                self.trays[tray_index].item,
                "receive",
                receivers[n % 3],
                RECEIPT,
                RECEIPT_JSON,
                counterparty=courier,
                site=self.cssd_site,
            )
            if at < cutoff:
                self.to_wash.append((at + rng.uniform(5, 20) * MINUTE, tray_index))

    def use(self, pack_index: int, delivered: datetime) -> None:
        """Opened for a patient some time after delivery; the set goes back afterwards."""
        rng = self.rng
        pack = self.packs[pack_index]
        draw = rng.random()
        if draw < 0.60:
            delay = rng.uniform(1, 9) * HOUR
        elif draw < 0.85:
            delay = DAY + rng.uniform(0, 8) * HOUR
        elif draw < 0.95:
            delay = rng.uniform(2, 5) * DAY
        else:
            delay = rng.uniform(5, 12) * DAY
        at = self.daytime(delivered + delay)
        if at >= self.cutoff:
            return
        tray_index = pack.tray
        site = self.c.sites[self.trays[tray_index].site]
        user = rng.choice(site.staff)
        self.patients += 1
        patient = f"ZY{self.patients:08d}"
        details = {"patient_ref": patient}
        self.emit(at, pack.item, "use", user, details, copy_json(details), site=site.id)
        tray_details = {"pack": self.barcode[pack.item]}
        self.emit(
            at,
            self.trays[tray_index].item,
            "use",
            user,
            tray_details,
            copy_json(tray_details),
            site=site.id,
        )
        pack.patient_ref, pack.used_at = patient, at
        self.return_used(tray_index, self.daytime(at + rng.uniform(0.5, 6) * HOUR))

    def process(self) -> None:
        """Wash, inspect and pack what was received; sterilize, release and store packs."""
        self.to_wash.sort()
        for machine, start, batch in self.batches(
            self.to_wash, self.c.washers, WASH_HOURS, WASH_CAPACITY, WASH_MIN, WASH_MAX_WAIT,
            timedelta(0),
        ):  # fmt: skip
            self.wash(machine, start, batch)
        self.to_wash = []
        self.to_load.sort()
        for machine, start, batch in self.batches(
            self.to_load, self.c.sterilizers, LOAD_HOURS, LOAD_CAPACITY, LOAD_MIN, LOAD_MAX_WAIT,
            LOAD_LEAD,
        ):  # fmt: skip
            self.sterilize(machine, start, batch)
        self.to_load = []

    def batches(
        self,
        ready: list[tuple[datetime, int]],
        machines: list[MachineInfo],
        hours: tuple[float, float],
        capacity: tuple[int, int],
        minimum: int,
        max_wait: timedelta,
        lead: timedelta,
    ) -> Iterator[tuple[MachineInfo, datetime, list[tuple[datetime, int]]]]:
        """Greedy batching onto whichever machine is free first (FIFO, no overtaking)."""
        i, n = 0, len(ready)
        while i < n:
            machine = min(machines, key=lambda m: m.free)
            start = self.fit(max(machine.free, ready[i][0] + lead), hours)
            cap = self.rng.randint(*capacity)
            j = i
            while j < n and j - i < cap and ready[j][0] + lead <= start:
                j += 1
            if j - i < minimum and j < n:
                wanted = ready[min(i + minimum, n) - 1][0] + lead
                start = self.fit(max(start, min(wanted, start + max_wait)), hours)
                while j < n and j - i < cap and ready[j][0] + lead <= start:
                    j += 1
            if j == i:
                j = i + 1
                start = self.fit(ready[i][0] + lead, hours)
            machine.free = start  # the caller adds the cycle time
            yield machine, start, ready[i:j]
            i = j

    def wash(self, washer: MachineInfo, start: datetime, batch: list[tuple[datetime, int]]) -> None:
        rng, cutoff = self.rng, self.cutoff
        end = start + rng.uniform(40, 50) * MINUTE
        washer.free = end + 5 * MINUTE
        if start >= cutoff:
            return
        operator = self.staff()
        number = self.cycle_number(washer, start)
        cycle_id = UID(int=rng.getrandbits(128), version=4)
        finished = end < cutoff
        parameters = {"a0": 3000}
        self.cycles.append(
            CycleRec(
                cycle_id, self.new_cycle_barcode(), number, "wash", washer.id, "standard",
                "passed" if finished else "running", operator, start,
                end if finished else None, start, end if finished else None,
                parameters if finished else {}, {},
            )
        )  # fmt: skip
        self.totals.washes += 1
        trays = [tray_index for _, tray_index in batch]
        start_details = {"washer": washer.code, "cycle": number, "program": "standard"}
        start_json = copy_json(start_details)
        for tray_index in trays:
            item = self.trays[tray_index].item
            self.cycle_items.append((cycle_id, item, start, not finished))
            self.emit(start, item, "wash_start", operator, start_details, start_json,
                      site=self.cssd_site)  # fmt: skip
        pass_details = {"cycle": number, **parameters}
        pass_json = copy_json(pass_details)
        for tray_index in sorted(trays, key=lambda t: self.barcode[self.trays[t].item]):
            self.emit(end, self.trays[tray_index].item, "wash_pass", operator, pass_details,
                      pass_json, site=self.cssd_site)  # fmt: skip
        if not finished:
            return
        for tray_index in trays:
            inspected = end + rng.uniform(5, 45) * MINUTE
            self.emit(inspected, self.trays[tray_index].item, "inspect_pass", self.staff(), {},
                      "{}", site=self.cssd_site)  # fmt: skip
            self.pack(tray_index, inspected + rng.uniform(2, 15) * MINUTE)

    def new_cycle_barcode(self) -> str:
        while True:
            barcode = new_id(Kind.CYCLE, self.rng)
            if barcode not in self.barcodes_seen:
                self.barcodes_seen.add(barcode)
                return barcode

    def pack(self, tray_index: int, at: datetime) -> None:
        """``cssd.pack_set``: the set's pack event, then a new pack item registered."""
        if at >= self.cutoff:
            return
        tray = self.trays[tray_index]
        template = self.c.templates[tray.template]
        packer, checker = self.rng.sample(self.c.cssd_staff, 2)
        details = {"packaging": template.material.value}
        self.emit(at, tray.item, "pack", packer, details, copy_json(details),
                  counterparty=checker, site=self.cssd_site)  # fmt: skip
        item = self.new_item(Kind.PACK, True, at, self.cssd_site)
        self.emit(at, item, "registered", packer, self.details_registered[tray.template],
                  self.json_registered[tray.template])  # fmt: skip
        tray.cycles_done += 1
        self.packs.append(
            PackRec(
                item,
                tray_index,
                tray.template,
                packer,
                checker,
                at,
                expires_on=last_valid(self.local_date(at), template),
            )
        )
        self.totals.packs += 1
        self.to_load.append((at, len(self.packs) - 1))

    def sterilize(
        self, sterilizer: MachineInfo, start: datetime, batch: list[tuple[datetime, int]]
    ) -> None:
        """A load: built, started, finished, unloaded, released and put in store."""
        rng, cutoff, site = self.rng, self.cutoff, self.cssd_site
        end = start + rng.uniform(34, 40) * MINUTE
        sterilizer.free = end + 4 * MINUTE
        loaded = []
        for ready, _ in batch:
            moment = max(ready + rng.uniform(1, 5) * MINUTE, start - rng.uniform(20, 40) * MINUTE)
            loaded.append(max(min(moment, start - 30 * SECOND), ready + 30 * SECOND))
        created = min(loaded) - rng.uniform(1, 5) * MINUTE
        if created >= cutoff:
            return
        operator, reviewer = rng.sample(self.c.cssd_staff, 2)
        number = self.cycle_number(sterilizer, created)
        load_id = UID(int=rng.getrandbits(128), version=4)
        cooling = rng.randint(30, 40)
        unloaded = end + (cooling + rng.uniform(0, 3)) * MINUTE
        released = unloaded + rng.uniform(3, 20) * MINUTE
        stored = released + rng.uniform(5, 40) * MINUTE
        day = self.day_of(start)
        carries_bi = (day - sterilizer.bi_offset) % 7 == 0 and sterilizer.bi_day != day
        if carries_bi:
            sterilizer.bi_day = day
        bi_read = start + (180 + rng.uniform(0, 20)) * MINUTE
        parameters = {
            "temperature_c": round(rng.uniform(134.0, 135.5), 1),
            "pressure_kpa": float(rng.randint(205, 215)),
            "hold_minutes": 4.0,
            "passed": True,
        }
        unload = {"cooling_minutes": cooling, "chemical_indicator_passed": True, "wet_packs": []}
        marks = [m for m in (start, end, unloaded, released) if m < cutoff]
        if carries_bi and bi_read < cutoff:
            marks.append(bi_read)
        status = (
            "released" if released < cutoff
            else "unloaded" if unloaded < cutoff
            else "running" if start < cutoff
            else "building"
        )  # fmt: skip
        self.cycles.append(
            CycleRec(
                load_id, self.new_cycle_barcode(), number, "sterilization", sterilizer.id,
                PROGRAM, status, operator, created, max(marks) if marks else None,
                start if start < cutoff else None, end if end < cutoff else None,
                parameters if end < cutoff else {}, unload if unloaded < cutoff else {},
                True if carries_bi and bi_read < cutoff else None,
                reviewer if released < cutoff else None, released if released < cutoff else None,
            )
        )  # fmt: skip
        self.totals.loads += 1
        packs = [pack_index for _, pack_index in batch]
        load_details = {"load": number, "sterilizer": sterilizer.code}
        load_json = copy_json(load_details)
        for moment, pack_index in zip(loaded, packs, strict=True):
            if moment >= cutoff:
                continue
            pack = self.packs[pack_index]
            pack.load = load_id
            self.cycle_items.append((load_id, pack.item, moment, released >= cutoff))
            self.emit(moment, pack.item, "load", operator, load_details, load_json, site=site)
        ordered = sorted(packs, key=lambda p: self.barcode[self.packs[p].item])
        steps: tuple[tuple[datetime, str, UID, dict[str, Any]], ...] = (
            (start, "sterilize_start", operator, {"load": number, "program": PROGRAM}),
            (end, "sterilize_end", operator, {"load": number, **parameters}),
            (unloaded, "quarantine", operator, {"load": number}),
            (released, "release", reviewer, {"load": number, "emergency": False}),
            (stored, "store", self.staff(), {}),
        )
        for moment, event_type, actor, details in steps:
            djson = copy_json(details)
            for pack_index in ordered:
                self.emit(moment, self.packs[pack_index].item, event_type, actor, details, djson,
                          site=site)  # fmt: skip
        if carries_bi:
            self.record_test(sterilizer, TestKind.biological_indicator, bi_read, load_id, number)
        if released < cutoff:
            sterilized_on = self.local_date(start)
            for pack_index in packs:
                pack = self.packs[pack_index]
                pack.sterilized_on = sterilized_on
                pack.expires_on = last_valid(sterilized_on, self.c.templates[pack.template])
        for pack_index in packs:
            # most packs leave on the next run; some stay on the shelf a few days
            hold = timedelta(0) if rng.random() < 0.85 else rng.uniform(1, 4) * DAY
            self.order += 1
            heapq.heappush(self.stock, (stored + hold, self.order, pack_index))

    def simulate(self, progress: Callable[[int], None]) -> None:
        quota = [self.ppd // len(RUNS) + (1 if i < self.ppd % len(RUNS) else 0) for i in range(3)]
        for day in range(self.days):
            self.flush(day)
            started = time.perf_counter()
            if day == 0:
                self.register_sets()
            self.bowie_dick(day)
            for run_index in range(len(RUNS)):
                self.run(day, run_index, quota[run_index])
                self.process()
            self.totals.seconds_simulating += time.perf_counter() - started
            progress(day)
        self.flush(len(self.midnights))


RECEIPT: dict[str, Any] = {"special_pathogen": False, "count_matches": True, "discrepancies": {}}
RECEIPT_JSON = copy_json(RECEIPT)
PROGRAM = "134°C 4 min"


def last_valid(day: date, template: TemplateInfo) -> date:
    from server.cssd.rules import last_valid_day

    return last_valid_day(day, template.material, template.storage)


def write_tables(url: str, year: Year) -> dict[str, int]:
    """Items with their projections, sets, packs, cycles, cycle items, tests, audit, head."""
    counts: dict[str, int] = {}
    county = year.c
    with connect(url) as conn, conn.cursor() as cursor:
        templates = county.templates
        registered = [i for i in range(len(year.uuid)) if year.seq[i] > 0]
        with cursor.copy(
            "COPY items (id, created_at, modified_at, barcode, kind, description, home_site_id, "
            "attributes, active, state, last_seq, last_position, last_event_at, "
            "current_site_id, holder_id, open_flags) FROM STDIN"
        ) as copy:
            tray_of_item = {tray.item: tray for tray in year.trays}
            pack_of_item = {pack.item: pack for pack in year.packs}
            for i in registered:
                if year.is_pack[i]:
                    pack = pack_of_item[i]
                    kind, home = ItemKind.pack.value, None
                    description = templates[pack.template].description
                    attributes = {"set": year.barcode[year.trays[pack.tray].item]}
                else:
                    tray = tray_of_item[i]
                    kind, home = ItemKind.instrument_set.value, county.sites[tray.site].id
                    description = templates[tray.template].description
                    attributes = {}
                copy.write_row(
                    (year.uuid[i], year.created[i], year.last_at[i], year.barcode[i], kind,
                     description, home, Jsonb(attributes), True, year.state[i], year.seq[i],
                     year.last_pos[i], year.last_at[i], year.site[i], year.holder[i], 0)
                )  # fmt: skip
        counts["items"] = len(registered)
        with cursor.copy(
            "COPY set_assets (item_id, template_id, loaner, supplier, loaner_tested_at, "
            "loaner_returned_at, special_pathogen, hold_reason, cycles_done) FROM STDIN"
        ) as copy:
            for tray in year.trays:
                copy.write_row(
                    (year.uuid[tray.item], templates[tray.template].id, False, None, None, None,
                     False, None, tray.cycles_done)
                )  # fmt: skip
        counts["set_assets"] = len(year.trays)
        with cursor.copy(
            "COPY packs (item_id, set_item_id, template_id, packer_id, checker_id, "
            "packaging_material, storage_condition, packed_at, destination_site_id, load_id, "
            "sterilized_on, expires_on, patient_ref, used_at, recall_id, label_prints) FROM STDIN"
        ) as copy:
            for pack in year.packs:
                tray = year.trays[pack.tray]
                template = templates[pack.template]
                copy.write_row(
                    (year.uuid[pack.item], year.uuid[tray.item], template.id, pack.packer,
                     pack.checker, template.material.value,
                     template.storage.value if template.storage else None, pack.packed_at,
                     county.sites[tray.site].id, pack.load, pack.sterilized_on, pack.expires_on,
                     pack.patient_ref, pack.used_at, None, 0)
                )  # fmt: skip
        counts["packs"] = len(year.packs)
        with cursor.copy(
            "COPY cycles (id, created_at, modified_at, barcode, number, kind, machine_id, "
            "program, status, operator_id, started_at, ended_at, parameters, unload, implant, "
            "bi_required, bi_passed, released_by_id, released_at, emergency_release, "
            "failure_reason) FROM STDIN"
        ) as copy:
            for cycle in year.cycles:
                copy.write_row(
                    (cycle.id, cycle.created_at, cycle.modified_at, cycle.barcode, cycle.number,
                     cycle.kind, cycle.machine, cycle.program, cycle.status, cycle.operator,
                     cycle.started_at, cycle.ended_at, Jsonb(cycle.parameters),
                     Jsonb(cycle.unload), False, False, cycle.bi_passed, cycle.released_by,
                     cycle.released_at, None, None)
                )  # fmt: skip
        counts["cycles"] = len(year.cycles)
        with cursor.copy(
            "COPY cycle_items (id, cycle_id, item_id, active, added_at) FROM STDIN"
        ) as copy:
            getbits = year.rng.getrandbits
            for cycle_id, item, added, active in year.cycle_items:
                copy.write_row(
                    (UID(int=getbits(128), version=4), cycle_id, year.uuid[item], active, added)
                )
        counts["cycle_items"] = len(year.cycle_items)
        with cursor.copy(
            "COPY machine_tests (id, machine_id, kind, passed, performed_at, local_day, "
            "cycle_id, operator_id, lot, note) FROM STDIN"
        ) as copy:
            for row in year.tests:
                copy.write_row(row)
        counts["machine_tests"] = len(year.tests)
        with cursor.copy(
            "COPY audit_records (at, actor_id, action, target_type, target_id, details) FROM STDIN"
        ) as copy:
            for row in year.audits:
                copy.write_row(row)
        counts["audit_records"] = len(year.audits)
        cursor.execute(
            "UPDATE ledger_head SET position = %s, hash = %s WHERE id = 1",
            (year.position, year.prev_hash),
        )
        conn.commit()
    return counts


@dataclass(slots=True)
class Checks:
    windows: int = 0
    events_checked: int = 0
    items_checked: int = 0
    problems: list[str] = field(default_factory=list)


def spot_check(url: str, year: Year, seed: int) -> Checks:
    """Hash chain on sample windows (and the head) and projections of sample items."""
    checks = Checks()
    rng = random.Random(seed)
    engine = build_engine(url)
    factory = build_sessionmaker(engine)
    last = year.position
    starts = [1, max(1, last - 999)] + [rng.randint(1, max(1, last - 1000)) for _ in range(8)]
    try:
        with factory() as session:
            from sqlalchemy import select

            for first in starts:
                rows = session.execute(
                    select(CustodyEvent)
                    .where(CustodyEvent.position >= max(1, first - 1))
                    .where(CustodyEvent.position < first + 1000)
                    .order_by(CustodyEvent.position)
                ).scalars()
                previous: CustodyEvent | None = None
                for row in rows:
                    if previous is not None and row.prev_hash != previous.hash:
                        checks.problems.append(f"position {row.position}: prev_hash mismatch")
                    if previous is not None and row.position != previous.position + 1:
                        checks.problems.append(f"position {row.position}: gap")
                    if event_hash(ledger.chained_fields(row), row.prev_hash) != row.hash:
                        checks.problems.append(f"position {row.position}: hash mismatch")
                    previous = row
                    checks.events_checked += 1
                checks.windows += 1
                session.expunge_all()
            head_hash = session.execute(
                select(CustodyEvent.hash).where(CustodyEvent.position == last)
            ).scalar_one()
            if head_hash != year.prev_hash:
                checks.problems.append("ledger head differs from the last row")
            from server.models import Item

            sample = rng.sample(range(len(year.uuid)), min(500, len(year.uuid)))
            for index in sample:
                item = session.get(Item, year.uuid[index])
                if item is None:
                    continue
                events = ledger.events_for_item(session, item.id)
                rebuilt = rebuild(item.kind, [ledger.facts_of(e) for e in events])
                only_registered = item.kind == ItemKind.pack and item.last_seq == 1
                for name in ("state", "last_seq", "last_position", "holder_id", "current_site_id"):
                    if name == "current_site_id" and only_registered:
                        continue  # pack_set sets it beside the ledger; so does this benchmark
                    if getattr(item, name) != getattr(rebuilt, name):
                        checks.problems.append(
                            f"{item.barcode}: {name} stored {getattr(item, name)}, "
                            f"rebuilt {getattr(rebuilt, name)}"
                        )
                if [e.item_seq for e in events] != list(range(1, item.last_seq + 1)):
                    checks.problems.append(f"{item.barcode}: item_seq not 1..{item.last_seq}")
                checks.items_checked += 1
                session.expunge_all()
    finally:
        engine.dispose()
    return checks


@dataclass(slots=True)
class Generation:
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    first_day: date | None = None
    last_day: date | None = None
    checks: Checks | None = None
    db_size: str = ""
    table_sizes: list[tuple[str, str]] = field(default_factory=list)
    pack_barcodes: list[str] = field(default_factory=list)
    recall_window_loads: int = 0
    recall_window_packs: int = 0
    states: dict[str, int] = field(default_factory=dict)


def generate(url: str, args: argparse.Namespace, generation: Generation) -> None:
    settings = Settings(database_url=url)
    zone = settings.zone
    today = datetime.now(zone).date()
    first = today - timedelta(days=args.days)
    generation.first_day, generation.last_day = first, today - timedelta(days=1)
    first_midnight = datetime.combine(first, clock_time(0), zone).astimezone(UTC)

    started = time.perf_counter()
    log("phase 1: the county through the services")
    county = build_county(url, first_midnight)
    generation.seconds["set-up through the services"] = time.perf_counter() - started

    started = time.perf_counter()
    definitions = drop_constraints(url)
    generation.seconds["drop indexes and foreign keys"] = time.perf_counter() - started
    log(
        f"  dropped {len(definitions.keys)} keys, {len(definitions.indexes)} indexes and "
        f"{len(definitions.foreign)} foreign keys of the bulk tables (re-created after the load)"
    )

    sets = args.sets or round(args.packs_per_day * SETS_PER_DAILY_PACK)
    log(
        f"phase 2: {args.days} days from {first} at {args.packs_per_day:,} packs a day, "
        f"{sets:,} sets in circulation"
    )
    started = time.perf_counter()
    writer = EventWriter(url)
    year = Year(county, zone, first, args.days, args.packs_per_day, sets, args.seed, writer)
    expected_events = args.days * args.packs_per_day * 18
    month_started = [started, 0]
    current_month = [first.month]

    def progress(day: int) -> None:
        next_date = first + timedelta(days=day + 1)
        if next_date.month == current_month[0] and day + 1 < args.days:
            return
        current_month[0] = next_date.month
        elapsed = time.perf_counter() - started
        done = year.totals.events
        rate = done / elapsed if elapsed else 0.0
        eta = elapsed / (day + 1) * (args.days - day - 1)
        month_rate = (done - month_started[1]) / max(time.perf_counter() - month_started[0], 1e-9)
        month_started[0], month_started[1] = time.perf_counter(), done
        log(
            f"  through {first + timedelta(days=day)}: {done:,} events "
            f"(~{expected_events:,} expected), {year.totals.packs:,} packs, "
            f"{year.totals.loads:,} loads; {rate:,.0f} events/s overall, {month_rate:,.0f} this "
            f"month; hashing {year.totals.seconds_hashing:.0f} s, simulating "
            f"{year.totals.seconds_simulating:.0f} s; {elapsed:.0f} s elapsed, ETA {eta:.0f} s"
        )

    try:
        year.simulate(progress)
    finally:
        writer.close()
    generation.seconds["simulate, hash and COPY the events"] = time.perf_counter() - started
    generation.totals = year.totals

    started = time.perf_counter()
    generation.counts = write_tables(url, year)
    generation.counts["custody_events"] = year.totals.events
    generation.seconds["COPY items, packs, cycles, tests"] = time.perf_counter() - started
    log(f"  rows: {generation.counts}")

    log("  re-creating keys, indexes and foreign keys …")
    steps = restore_constraints(url, definitions)
    for name, seconds in steps.items():
        generation.seconds[f"re-create {name}"] = seconds
    started = time.perf_counter()
    log("  VACUUM ANALYZE …")
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    generation.seconds["VACUUM ANALYZE, CHECKPOINT"] = time.perf_counter() - started

    started = time.perf_counter()
    generation.checks = spot_check(url, year, args.seed + 7)
    generation.seconds["spot checks"] = time.perf_counter() - started
    checks = generation.checks
    log(
        f"  spot checks: {checks.events_checked:,} events in {checks.windows} windows, "
        f"{checks.items_checked} items: {len(checks.problems)} problem(s)"
    )
    for problem in checks.problems[:10]:
        log(f"  PROBLEM {problem}")

    generation.pack_barcodes = [year.barcode[pack.item] for pack in year.packs]
    with connect(url) as conn:
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        generation.db_size = str(row[0]) if row else "?"
        generation.table_sizes = [
            (str(name), str(size))
            for name, size in conn.execute(
                "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                "ORDER BY pg_total_relation_size(oid) DESC LIMIT 6"
            ).fetchall()
        ]
        generation.states = {
            str(state): int(count)
            for state, count in conn.execute(
                "SELECT state, count(*) FROM items WHERE kind = 'pack' GROUP BY state "
                "ORDER BY 2 DESC"
            ).fetchall()
        }
        window = conn.execute(
            """
            WITH last_bi AS (
              SELECT c.started_at FROM machine_tests t JOIN cycles c ON c.id = t.cycle_id
              JOIN machines m ON m.id = t.machine_id
              WHERE m.code = %s AND t.kind = 'biological_indicator' AND t.passed
              ORDER BY t.performed_at DESC LIMIT 1)
            SELECT count(DISTINCT c.id), count(ci.id) FROM cycles c
            JOIN machines m ON m.id = c.machine_id
            JOIN cycle_items ci ON ci.cycle_id = c.id
            WHERE m.code = %s AND c.started_at > (SELECT started_at FROM last_bi)
            """,
            (RECALL_STERILIZER, RECALL_STERILIZER),
        ).fetchone()
        if window:
            generation.recall_window_loads, generation.recall_window_packs = map(int, window)
    log(f"  database size {generation.db_size}; largest: {generation.table_sizes}")


# --- phase 3: measurements through a real server ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(url: str) -> Iterator[str]:
    """``uvicorn`` on a free port; yields its base URL; stops it after."""
    port = free_port()
    env = {**os.environ, "HANDOFF_DATABASE_URL": url, "HANDOFF_LOG_SQL": "false"}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "server.app:app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def server_output() -> str:
            output.seek(0)
            return output.read().decode(errors="replace")[-4000:]

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
            log(f"server up at {base} (pid {process.pid})")
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            errors = server_output().strip()
            if errors:
                log(f"server output (last lines):\n{errors}")


def login(http: httpx.Client) -> dict[str, str]:
    response = http.post(
        "/api/v1/auth/token", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def timed_get(http: httpx.Client, path: str, headers: dict[str, str]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = http.get(path, headers=headers)
    content = response.content
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {content[:300]!r}")
    return elapsed, content


@dataclass(slots=True)
class Measurements:
    board: dict[str, float] = field(default_factory=dict)
    board_states: dict[str, int] = field(default_factory=dict)
    board_lists: dict[str, int] = field(default_factory=dict)
    history: dict[str, float] = field(default_factory=dict)
    history_lean: dict[str, float] = field(default_factory=dict)  # http.client, no httpx
    history_events_mean: float = 0.0
    history_problems: list[str] = field(default_factory=list)
    recall_post_s: float = 0.0
    recall_visible_s: float = 0.0
    recall_404s: int = 0
    recall_number: str = ""
    recall_packs: int = 0
    recall_loads: int = 0
    recall_sites: int = 0
    recall_report: dict[str, float] = field(default_factory=dict)
    recall_bytes: int = 0
    profiles: list[Profile] = field(default_factory=list)


def measure(
    url: str, args: argparse.Namespace, generation: Generation, result: Measurements
) -> None:
    rng = random.Random(args.seed + 3)
    with running_server(url) as base, httpx.Client(base_url=base, timeout=120) as http:
        headers = login(http)
        log(f"board: {BOARD_WARMUPS} warm-ups, {BOARD_RUNS} timed")
        samples = []
        body: Any = None
        for n in range(BOARD_WARMUPS + BOARD_RUNS):
            elapsed, content = timed_get(http, "/api/v1/cssd/board", headers)
            if n >= BOARD_WARMUPS:
                samples.append(elapsed)
            body = content
        board = json.loads(body)
        result.board = percentiles(samples)
        result.board_states = board["packs_by_state"]
        result.board_lists = {k: len(v) for k, v in board.items() if isinstance(v, list)}
        log(f"  p50 {result.board['p50']:.1f} ms, max {result.board['max']:.1f} ms")

        barcodes = generation.pack_barcodes
        log(f"pack history: {HISTORY_WARMUPS} warm-ups, {args.lookups:,} timed lookups")
        for barcode in rng.choices(barcodes, k=HISTORY_WARMUPS):
            timed_get(http, f"/api/v1/items/{barcode}/custody", headers)
        samples, seen = [], []
        chosen = rng.choices(barcodes, k=args.lookups)
        for barcode in chosen:
            elapsed, content = timed_get(http, f"/api/v1/items/{barcode}/custody", headers)
            samples.append(elapsed)
            chain = json.loads(content)
            seen.append(len(chain["events"]))
            if not chain["intact"]:
                result.history_problems.append(f"{barcode}: chain not intact")
        result.history = percentiles(samples)
        result.history_lean = lean_lookups(base, headers["Authorization"], chosen)
        result.history_events_mean = statistics.fmean(seen) if seen else 0.0
        log(
            f"  p50 {result.history['p50']:.1f} ms, p99 {result.history['p99']:.1f} ms, "
            f"{len(result.history_problems)} not intact"
        )

        log(f"recall: a failed biological indicator on {RECALL_STERILIZER} through the API")
        started = time.perf_counter()
        response = http.post(
            f"/api/v1/cssd/machines/{RECALL_STERILIZER}/tests",
            json={"kind": "biological_indicator", "passed": False},
            headers=headers,
        )
        result.recall_post_s = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"BI failure: {response.status_code} {response.text[:500]}")
        result.recall_number = str(response.json()["recall"])
        path = f"/api/v1/cssd/recalls/{result.recall_number}"
        # The session dependency commits after the response is sent (FastAPI runs the exit
        # code of a yield dependency after the response unless scope="function"): the
        # recall is readable only once that commit is done.
        while True:
            if http.get(path, headers=headers).status_code == 200:
                break
            result.recall_404s += 1
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"{path} still 404 five minutes after the POST")
            time.sleep(0.01)
        result.recall_visible_s = time.perf_counter() - started
        log(
            f"  {result.recall_number}: answered in {result.recall_post_s * 1000:.0f} ms, "
            f"readable after {result.recall_visible_s * 1000:.0f} ms "
            f"({result.recall_404s} GETs answered 404 before)"
        )
        samples = []
        for n in range(RECALL_WARMUPS + RECALL_RUNS):
            elapsed, content = timed_get(http, path, headers)
            if n >= RECALL_WARMUPS:
                samples.append(elapsed)
            body = content
        report = json.loads(body)
        result.recall_report = percentiles(samples)
        result.recall_bytes = len(body)
        result.recall_packs = len(report["packs"])
        result.recall_loads = len(report["loads"])
        result.recall_sites = len(report["sites_notified"])
        log(
            f"  report: {result.recall_packs:,} packs in {result.recall_loads} loads, "
            f"p50 {result.recall_report['p50']:.1f} ms, max {result.recall_report['max']:.1f} ms"
        )


# --- phase 4: where the time goes ---------------------------------------------------------------


@dataclass(slots=True)
class Statement:
    seconds: float
    sql: str
    parameters: Any
    plan: str = ""


@dataclass(slots=True)
class Profile:
    name: str
    seconds: float
    statements: list[Statement]
    hotspots: list[str] = field(default_factory=list)

    def top(self, count: int = 3) -> list[Statement]:
        return sorted(self.statements, key=lambda s: s.seconds, reverse=True)[:count]


def profile(url: str, name: str, work: Callable[[Session], Any], *, explain: int = 2) -> Profile:
    """Run ``work`` in process with every statement timed, roll back, EXPLAIN the slowest."""
    engine = build_engine(url)
    captured: list[Statement] = []

    @sa_event.listens_for(engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @sa_event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        began = conn.info["bench_started"].pop()
        captured.append(Statement(time.perf_counter() - began, statement, params))

    try:
        factory = build_sessionmaker(engine)
        with factory() as session:
            work(session)  # warm
            session.rollback()
            captured.clear()
            started = time.perf_counter()
            work(session)
            seconds = time.perf_counter() - started
            session.rollback()
            statements = list(captured)
            profiler = cProfile.Profile()
            profiler.runcall(work, session)
            session.rollback()
        result = Profile(name, seconds, statements, hotspots(profiler))
        with connect(url) as conn:
            planned = 0
            for statement in result.top(explain + 4):
                if isinstance(statement.parameters, list) or planned == explain:
                    continue  # executemany: no single plan
                planned += 1
                head = statement.sql.lstrip().split(None, 1)[0].upper()
                # A write is only planned, not run (EXPLAIN without ANALYZE).
                how = "(ANALYZE, BUFFERS) " if head in {"SELECT", "WITH"} else ""
                rows = conn.execute(
                    "EXPLAIN " + how + statement.sql,
                    statement.parameters,
                ).fetchall()
                plan = "\n".join(str(row[0]) for row in rows)
                statement.plan = LONG_ARRAY.sub(
                    lambda m: f"'{{… {m[0].count(',') + 1} values …}}'", plan
                )
                conn.rollback()
    finally:
        engine.dispose()
    return result


LONG_ARRAY = re.compile(r"'\{[^'{}]{300,}\}'")


def hotspots(profiler: cProfile.Profile, count: int = 12) -> list[str]:
    """The functions with the most time of their own (cProfile, so slower than real)."""
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)
    total = sum(value[2] for _, value in rows) or 1.0
    found = []
    for (filename, line, function), (_, calls, own, cumulative, _) in rows[:count]:
        where = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        found.append(
            f"{own * 1000:7.1f} ms own {own / total:4.0%} {cumulative * 1000:7.1f} ms cum "
            f"{calls:>7,} calls  {function} ({where}:{line})"
        )
    return found


def profiles(url: str, measurements: Measurements, barcode: str) -> list[Profile]:
    settings = Settings(database_url=url)
    zone = settings.zone

    def board(session: Session) -> Any:
        clock = cssd.Clock(datetime.now(UTC), zone)
        return cssd.board(
            session, clock, settings.expiry_warning_days, settings.overdue_set_hours
        ).model_dump_json()

    def recall_report(session: Session) -> Any:
        recall = cssd.recall_by_number(session, measurements.recall_number)
        return reads.recall_read(session, recall).model_dump_json()

    def history(session: Session) -> Any:
        return custody_chain_by_barcode(session, barcode).model_dump_json()

    def recall_post(session: Session) -> Any:
        from sqlalchemy import select

        actor = session.execute(
            select(Person).where(Person.username == ADMIN_USERNAME)
        ).scalar_one()
        machine = cssd.machine_by_code(session, PROFILE_STERILIZER)
        return cssd.record_test(
            session,
            actor,
            machine,
            TestIn(kind=TestKind.biological_indicator, passed=False),
            cssd.Clock(datetime.now(UTC), zone),
        )

    found = [
        profile(url, "GET /cssd/board", board),
        profile(url, "GET /cssd/recalls/{number}", recall_report),
        profile(url, "GET /items/{barcode}/custody", history),
    ]
    found.append(
        profile(url, f"POST /cssd/machines/{PROFILE_STERILIZER}/tests (rolled back)", recall_post)
    )
    return found


# --- summary --------------------------------------------------------------------------------


def server_version(url: str) -> str:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0]}" if row else "PostgreSQL ?"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def short_sql(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(slots=True)
class Report:
    args: argparse.Namespace
    command: str
    started_at: datetime
    machine: dict[str, str] = field(default_factory=dict)
    postgres: str = ""
    generation: Generation = field(default_factory=Generation)
    measurements: Measurements = field(default_factory=Measurements)
    waited_s: float = 0.0
    total_s: float = 0.0
    load: str = ""

    def markdown(self) -> str:
        g, m, a = self.generation, self.measurements, self.args
        t = g.totals
        hw = self.machine
        gen_total = sum(g.seconds.values())
        board_ok = m.board.get("max", float("inf")) <= TARGET_BOARD_MS
        recall_ok = m.recall_report.get("max", float("inf")) <= TARGET_RECALL_MS
        history_ok = m.history.get("p99", float("inf")) <= TARGET_HISTORY_P99_MS
        lean = m.history_lean or percentiles([])
        lines = [
            "## A year of a busy CSSD: board, recall report, pack history (issue 4, item 7)",
            "",
            f"- Date: {self.started_at:%Y-%m-%d %H:%M} UTC, {self.total_s / 60:.1f} min in all",
            f"- Machine: {hw['cpus']} CPUs ({hw['cpu']}), {hw['memory']}, {self.postgres} "
            "(stock settings: shared_buffers 128 MB, work_mem 4 MB), "
            f"Python {hw['python']}, {hw['speed']} (bench/machine.py); client, server and "
            "PostgreSQL share the machine",
            f"- Command: `{self.command}`",
            f"- Load average (1/5/15 min) when the measurements started and ended: {self.load}",
            f"- Data: {g.first_day} – {g.last_day} ({a.days} days, {a.packs_per_day:,} packs a "
            f"day): **{g.counts.get('packs', 0):,} packs**, {t.sets:,} sets, "
            f"**{t.events:,} custody events**, **{t.loads:,} sterilizer loads**, {t.washes:,} "
            f"washer cycles, {g.counts.get('cycle_items', 0):,} cycle items, {t.tests:,} "
            f"Bowie-Dick/BI results; database **{g.db_size}** "
            f"({', '.join(f'{n} {s}' for n, s in g.table_sizes[:4])})",
            "",
            "| Figure | Result | Target | |",
            "|---|---|---|---|",
            f"| Packs-by-state board `GET /api/v1/cssd/board`, {BOARD_RUNS} runs after "
            f"{BOARD_WARMUPS} warm-ups: p50 / p95 / max | {m.board['p50']:.0f} / "
            f"{m.board['p95']:.0f} / **{m.board['max']:.0f} ms** | ≤ {TARGET_BOARD_MS:.0f} ms "
            f"| {met(board_ok)} |",
            f"| Recall report of a failed load `GET /api/v1/cssd/recalls/{{number}}` "
            f"({m.recall_packs:,} packs, {m.recall_loads} loads, {m.recall_bytes / 1e6:.1f} MB "
            f"JSON), {RECALL_RUNS} runs after {RECALL_WARMUPS} warm-ups: p50 / p95 / max | "
            f"{m.recall_report['p50']:.0f} / {m.recall_report['p95']:.0f} / "
            f"**{m.recall_report['max']:.0f} ms** | ≤ {TARGET_RECALL_MS:.0f} ms | "
            f"{met(recall_ok)} |",
            f"| One pack's history `GET /api/v1/items/{{barcode}}/custody`, {a.lookups:,} random "
            f"packs after {HISTORY_WARMUPS} warm-ups (~{m.history_events_mean:.1f} events "
            f"each): p50 / p95 / p99 / max | {m.history['p50']:.1f} / {m.history['p95']:.1f} / "
            f"**{m.history['p99']:.1f}** / {m.history['max']:.1f} ms | p99 ≤ "
            f"{TARGET_HISTORY_P99_MS:.0f} ms | {met(history_ok)} |",
            "| … the same lookups with Python's `http.client` (keep-alive; the line above uses "
            f"httpx, whose own cost is in it): p50 / p95 / p99 / max | {lean['p50']:.1f} / "
            f"{lean['p95']:.1f} / {lean['p99']:.1f} / {lean['max']:.1f} ms | | |",
            f"| The recall itself: `POST /api/v1/cssd/machines/{RECALL_STERILIZER}/tests` "
            f"with a failed BI (recalls every pack since the last passed BI, 7 days before) "
            f"| answered in {m.recall_post_s * 1000:,.0f} ms, readable (committed) after "
            f"{m.recall_visible_s * 1000:,.0f} ms; {m.recall_packs:,} packs, "
            f"{m.recall_sites} sites notified | — | |",
            "",
            f"Generation ({gen_total / 60:.1f} min): "
            + "; ".join(f"{name} {seconds:.0f} s" for name, seconds in g.seconds.items())
            + f". Of the simulate/hash/COPY phase, {t.seconds_hashing:.0f} s were spent "
            f"hashing and formatting the rows ({t.events / max(t.seconds_hashing, 1e-9):,.0f} "
            f"events/s on one core, `event_hash` dominating) and {t.seconds_simulating:.0f} s "
            "simulating; PostgreSQL took the COPY on the other core.",
            "",
        ]
        if g.checks is not None:
            c = g.checks
            lines += [
                f"Validity: the hash chain re-computed with `event_hash` over {c.windows} "
                f"windows ({c.events_checked:,} events, first, last and random) and the ledger "
                f"head; {c.items_checked} random items' projections rebuilt from their events; "
                f"all {a.lookups:,} custody lookups answered `intact`: "
                f"{len(c.problems) + len(m.history_problems)} problem(s).",
                "",
            ]
        if g.states:
            lines += [
                "Packs by state at the end of the year: "
                + ", ".join(f"{state} {count:,}" for state, count in g.states.items())
                + ".",
                "",
            ]
        lines += [
            "Where the time goes (in process, one call after a warm one, statement times from "
            "SQLAlchemy's cursor events; the custody chain's own statement runs on the "
            "driver's cursor (`server.db.plain_rows`) and is not among them):",
            "",
        ]
        for found in m.profiles:
            sql_total = sum(s.seconds for s in found.statements)
            top = "; ".join(
                f"{s.seconds * 1000:.0f} ms `{short_sql(s.sql, 90)}`" for s in found.top(2)
            )
            lines.append(
                f"- {found.name}: {found.seconds * 1000:.0f} ms, {len(found.statements)} "
                f"statements, {sql_total * 1000:.0f} ms in SQL; slowest: {top}"
            )
        over = [
            found
            for found in m.profiles
            if (found.name.endswith("board") and not board_ok)
            or (found.name.startswith("GET /cssd/recalls") and not recall_ok)
            or (found.name.startswith("GET /items") and not history_ok)
        ]
        if over:
            lines += ["", "Evidence for the figures over target (in process):", ""]
        for found in over:
            lines += [
                f"<details><summary>{found.name}: {found.seconds * 1000:.0f} ms in process, "
                f"{sum(s.seconds for s in found.statements) * 1000:.0f} ms of it in "
                f"{len(found.statements)} SQL statements</summary>",
                "",
            ]
            for statement in found.top(6):
                if statement.plan:
                    lines += [
                        f"`{short_sql(statement.sql, 300)}` ({statement.seconds * 1000:.1f} ms)",
                        "",
                        "```",
                        statement.plan,
                        "```",
                        "",
                    ]
            lines += [
                "cProfile of the same call, functions with the most time of their own:",
                "",
                "```",
                *found.hotspots,
                "```",
                "",
                "</details>",
                "",
            ]
        lines += [
            "",
            "How it is made: the set-up goes through the services; the year is simulated "
            "(three courier runs a day take clean packs out and bring used sets back; washer "
            f"cycles of {WASH_CAPACITY[0]}–{WASH_CAPACITY[1]} sets on two washers; loads of "
            f"{LOAD_CAPACITY[0]}–{LOAD_CAPACITY[1]} packs on four sterilizers between 06:00 "
            "and 23:55 after the day's Bowie-Dick; a weekly BI per sterilizer in its first load "
            "of the day; packs used 1 h–12 days after delivery) and every event is written as "
            "`ledger.append` would write it, hashed in position order, each step checked "
            "against the lifecycle. A valid ledger needs the set's steps as well as the "
            "pack's: about 18 events per pack (8 for the set, 10 for the pack), so a year "
            "at 3,000 packs a day is about 20 million events rather than the ten million "
            "the requirement estimates. The big tables are loaded without their indexes and "
            "foreign keys, which are then re-created from their own definitions (freshly "
            "built indexes are more compact than a year of inserts would leave them), and "
            "VACUUM ANALYZE stands in for autovacuum. Timings are taken on the client over "
            "loopback HTTP with keep-alive, one request at a time, with a bearer token.",
        ]
        return "\n".join(lines)


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace the cssd section; notes written by hand between the notes markers stay."""
    text = path.read_text() if path.exists() else DOCS_HEADER
    start, end = text.find(START_MARK), text.find(END_MARK)
    old = text[start:end] if start != -1 and end > start else ""
    first, last = old.find(NOTES_START), old.find(NOTES_END)
    if first != -1 and last > first:
        section += "\n\n" + old[first : last + len(NOTES_END)]
    block = f"{START_MARK}\n{section}\n{END_MARK}"
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARK) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    log(f"wrote the figures into {path.relative_to(ROOT)}")


def print_profiles(found: Sequence[Profile]) -> None:
    for item in found:
        print(f"\n### {item.name}: {item.seconds * 1000:.1f} ms, {len(item.statements)} statements")
        for statement in item.top(5):
            print(f"  {statement.seconds * 1000:8.1f} ms  {short_sql(statement.sql, 200)}")
        print("  cProfile, most time of their own:")
        for line in item.hotspots:
            print(f"    {line}")
        for statement in item.top(6):
            if statement.plan:
                print(f"\nEXPLAIN [ANALYZE] {short_sql(statement.sql, 300)}")
                print(statement.plan)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cssd",
        description="A year of a busy CSSD on PostgreSQL: board, recall report, pack history.",
    )
    parser.add_argument("--days", type=int, default=365, help="days of history to generate")
    parser.add_argument("--packs-per-day", type=int, default=3000, help="packs made a day")
    parser.add_argument(
        "--sets",
        type=int,
        default=0,
        help=f"sets in circulation (default: {SETS_PER_DAILY_PACK} × packs a day)",
    )
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="admin connection; the benchmark creates and drops its own database",
    )
    parser.add_argument("--lookups", type=int, default=2000, help="timed pack-history lookups")
    parser.add_argument("--seed", type=int, default=2026, help="seed for the generated year")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--no-write-docs", action="store_true", help="leave docs/ alone")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="how long to wait for other bench.* processes before generating and measuring",
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=1.0,
        help="wait (up to 10 min) for the 1-minute load average to drop below this before "
        "measuring",
    )
    args = parser.parse_args(argv)
    if args.days < 8:
        parser.error("--days must be at least 8 (the recall covers the last week)")
    for name in ("packs_per_day", "lookups"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def run(args: argparse.Namespace, database: Database, report: Report) -> None:
    url = database.create()
    log(f"database {database.name}: migrating …")
    upgrade(url)
    report.postgres = server_version(url)
    report.waited_s += wait_until_quiet("generating", args.max_wait)
    generate(url, args, report.generation)
    report.waited_s += wait_until_quiet("measuring", args.max_wait, args.max_load)
    before = "/".join(f"{value:.1f}" for value in os.getloadavg())
    measure(url, args, report.generation, report.measurements)
    report.load = f"{before} → {'/'.join(f'{value:.1f}' for value in os.getloadavg())}"
    log("profiling the reads in process …")
    barcode = random.Random(args.seed).choice(report.generation.pack_barcodes)
    report.measurements.profiles = profiles(url, report.measurements, barcode)
    print_profiles(report.measurements.profiles)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    shown = list(argv) if argv is not None else sys.argv[1:]
    report = Report(
        args=args,
        command=shlex.join(["python", "-m", "bench.cssd", *shown]),
        started_at=datetime.now(UTC),
        machine=describe(),
    )
    database = Database(args.pg_url)
    started = time.perf_counter()
    try:
        run(args, database, report)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if args.keep and database.created:
                log(f"kept database {database.name} ({database.url})")
            else:
                database.drop()
    report.total_s = time.perf_counter() - started - report.waited_s
    section = report.markdown()
    print(section)
    if not args.no_write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
