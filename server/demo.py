"""The demo county: sites, staff, devices, items and one day of custody events.

A county hospital with its regional laboratory, pathology centre and CSSD, and 19
township health centres 6–40 km around it. Four couriers run a morning collection and an
afternoon delivery. Every event goes through the same ingest service a device uses, with
the server clock set a few seconds after each scan, so the data looks as a real day would.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.secrets import hash_password
from server.auth.service import Principal
from server.config import Settings
from server.cssd import service as cssd
from server.cssd.rules import MachineKind, Material, Method, TestKind
from server.cssd.schemas import (
    DispatchIn,
    InspectionIn,
    Instrument,
    LoadFinish,
    MachineCreate,
    PackIn,
    ReceiptIn,
    SetCreate,
    TemplateCreate,
    TestIn,
    UnloadIn,
    WashFinish,
    WashIn,
)
from server.cssd.service import Clock
from server.custody.schemas import EventIn
from server.custody.service import ingest
from server.devices.schemas import DeviceCreate
from server.devices.service import create_device
from server.enums import ItemKind, Role, SiteKind
from server.errors import Conflict
from server.items.schemas import ItemCreate
from server.items.service import register_item
from server.models import Cycle, Device, Item, Pack, Person, SetTemplate, Site, Trip
from server.people.schemas import PersonCreate
from server.people.service import create_person
from server.simulation.day import Clinic as SimulatedClinic
from server.simulation.day import County as SimulatedCounty
from server.simulation.day import Place
from server.sites.schemas import SiteCreate
from server.sites.service import create_site
from server.specimens import service as specimens

DEMO_PASSWORD = "handoff-demo"
HOSPITAL = (30.2540, 115.0470)  # a county seat in the hills of central China
ROAD_FACTOR = 1.35
SPEED_KMH = 42.0

TOWNSHIPS = [
    ("城关镇", "Chengguan"),
    ("新店镇", "Xindian"),
    ("白沙镇", "Baisha"),
    ("石桥镇", "Shiqiao"),
    ("龙泉镇", "Longquan"),
    ("马坪镇", "Maping"),
    ("杨集镇", "Yangji"),
    ("河口镇", "Hekou"),
    ("双河镇", "Shuanghe"),
    ("柳林镇", "Liulin"),
    ("高桥镇", "Gaoqiao"),
    ("长岭镇", "Changling"),
    ("青山镇", "Qingshan"),
    ("黄土镇", "Huangtu"),
    ("安乐镇", "Anle"),
    ("太平镇", "Taiping"),
    ("三合镇", "Sanhe"),
    ("金山镇", "Jinshan"),
    ("清水镇", "Qingshui"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
]
SET_TEMPLATES = [
    ("SUTURE", "清创缝合包", "Debridement and suture set",
     [("持针器", 1), ("组织镊", 2), ("线剪", 1), ("弯盘", 1)], Material.nonwoven),
    ("DRESS", "换药包", "Dressing change set", [("镊子", 2), ("弯盘", 1), ("治疗碗", 1)],
     Material.nonwoven),
    ("DELIVERY", "产包", "Delivery set", [("脐带剪", 1), ("止血钳", 2), ("弯盘", 1)],
     Material.nonwoven),
    ("DENTAL", "口腔器械包", "Dental instrument set", [("口镜", 1), ("探针", 1), ("镊子", 1)],
     Material.paper_plastic_pouch),
    ("GYN", "妇科检查包", "Gynaecological examination set", [("窥阴器", 1), ("卵圆钳", 1)],
     Material.nonwoven),
]  # fmt: skip
# Specimen types the townships send (codes of the default table) and the readings their
# boxes show; tissue goes to the pathology centre.
SPECIMENS = [
    ("serum", (3.0, 7.5), "LAB"),
    ("micro_swab", (16.0, 24.0), "LAB"),
    ("frozen_plasma", (-30.0, -20.0), "LAB"),
    ("tissue_formalin", (16.0, 24.0), "PATH"),
]


@dataclass
class _Day:
    """Actions of the demo day, replayed in time order (an action may schedule later ones)."""

    queue: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    counter: int = 0

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        self.counter += 1
        heapq.heappush(self.queue, (when, self.counter, action))

    def replay(self, before_each: Callable[[datetime], None]) -> int:
        done = 0
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            before_each(when)
            action()
            done += 1
        return done


def _km_offset(rng: random.Random, index: int, count: int) -> tuple[float, float, float]:
    angle = 2 * math.pi * index / count + rng.uniform(-0.12, 0.12)
    distance = rng.uniform(6.0, 40.0)
    lat = HOSPITAL[0] + distance * math.cos(angle) / 111.0
    lon = HOSPITAL[1] + distance * math.sin(angle) / (111.0 * math.cos(math.radians(HOSPITAL[0])))
    return round(lat, 5), round(lon, 5), angle


def travel_minutes(a: Site, b: Site) -> float:
    """Straight-line distance × road factor at an average speed (the planner's default)."""
    dlat = (a.latitude - b.latitude) * 111.0
    dlon = (a.longitude - b.longitude) * 111.0 * math.cos(math.radians(a.latitude))
    return math.hypot(dlat, dlon) * ROAD_FACTOR / SPEED_KMH * 60


def load_demo(
    session: Session,
    settings: Settings,
    *,
    day: date | None = None,
    seed: int = 7,
    force: bool = False,
    progress: Callable[[str], Any] = print,
    token_file: Path | None = Path("var/demo-device-tokens.txt"),
) -> str:
    """Fill an empty database with the demo county and a day of events; returns a summary."""
    if not force and session.execute(select(func.count()).select_from(Site)).scalar_one():
        raise Conflict("the database already holds sites; the demo loads into an empty one")
    rng = random.Random(seed)
    zone = settings.zone
    the_day = day or (datetime.now(zone).date() - timedelta(days=1))
    setup_time = datetime.combine(the_day, time(6, 0), zone)

    progress("sites …")
    hospital = create_site(
        session,
        None,
        SiteCreate(
            code="CH",
            kind=SiteKind.county_hospital,
            name_zh="县人民医院",
            name_en="County People's Hospital",
            latitude=HOSPITAL[0],
            longitude=HOSPITAL[1],
            opens_at=time(0, 0),
            closes_at=time(23, 59),
        ),
    )
    centres = {}
    for code, kind, zh, en, dlat in (
        ("LAB", SiteKind.laboratory, "区域检验中心", "Regional Laboratory", 0.0006),
        ("PATH", SiteKind.pathology, "区域病理中心", "Regional Pathology Centre", 0.0009),
        ("CSSD", SiteKind.cssd, "区域消毒供应中心", "Regional Central Sterile Supply", -0.0007),
    ):
        centres[code] = create_site(
            session,
            None,
            SiteCreate(
                code=code,
                kind=kind,
                name_zh=zh,
                name_en=en,
                latitude=HOSPITAL[0] + dlat,
                longitude=HOSPITAL[1] + 0.0004,
                opens_at=time(7, 0),
                closes_at=time(21, 0),
                parent_code="CH",
            ),
        )
    clinics: list[tuple[Site, float]] = []
    for index, (zh, en) in enumerate(TOWNSHIPS):
        lat, lon, angle = _km_offset(rng, index, len(TOWNSHIPS))
        site = create_site(
            session,
            None,
            SiteCreate(
                code=f"T{index + 1:02d}",
                kind=SiteKind.township_clinic,
                name_zh=f"{zh}卫生院",
                name_en=f"{en} Township Health Centre",
                latitude=lat,
                longitude=lon,
                opens_at=time(8, 0),
                closes_at=time(17, 30),
            ),
        )
        clinics.append((site, angle))

    progress("people and devices …")
    used_names: set[str] = set()

    def name() -> str:
        while True:
            candidate = rng.choice(SURNAMES) + rng.choice(GIVEN)
            if candidate not in used_names:
                used_names.add(candidate)
                return candidate

    # Everyone in the demo has the same published password: one hash serves them all.
    shared_hash = hash_password(DEMO_PASSWORD)

    def person(role: Role, username: str, site: Site) -> Person:
        return create_person(
            session,
            None,
            PersonCreate(
                name=name(),
                role=role,
                username=username,
                password=DEMO_PASSWORD,
                home_site=site.code,
            ),
            password_hash=shared_hash,
        )

    person(Role.admin, "admin", hospital)
    dispatcher = person(Role.dispatcher, "dispatcher", hospital)
    couriers = [person(Role.courier, f"courier{n}", hospital) for n in range(1, 5)]
    cssd_staff = [person(Role.cssd_staff, f"cssd{n}", centres["CSSD"]) for n in range(1, 4)]
    lab_staff = [person(Role.lab_receiver, f"lab{n}", centres["LAB"]) for n in range(1, 3)]
    path_staff = person(Role.lab_receiver, "path1", centres["PATH"])
    clinic_staff = {
        site.code: person(Role.clinic_staff, f"clinic{site.code[1:]}", site) for site, _ in clinics
    }
    tokens: list[str] = []
    devices: dict[str, Device] = {}
    for site in [centres["CSSD"], centres["LAB"], centres["PATH"], *(s for s, _ in clinics)]:
        device, token = create_device(
            session, None, DeviceCreate(name=f"{site.name_zh} 扫码台", site=site.code)
        )
        devices[site.code] = device
        tokens.append(f"{site.code}\t{device.barcode}\t{token}")

    progress("sterile supply: set templates, washers, sterilizers …")
    setup = Clock(setup_time, zone)
    for code, zh, en, instruments, material in SET_TEMPLATES:
        cssd.create_template(
            session,
            cssd_staff[0],
            TemplateCreate(
                code=code,
                name_zh=zh,
                name_en=en,
                packaging_material=material,
                instruments=[Instrument(name=name, count=count) for name, count in instruments],
            ),
        )
    for machine in (
        MachineCreate(code="WD1", name="全自动清洗消毒器1", kind=MachineKind.washer, site="CSSD"),
        MachineCreate(code="WD2", name="全自动清洗消毒器2", kind=MachineKind.washer, site="CSSD"),
        MachineCreate(
            code="WD9",
            name="特殊感染专用清洗机",
            kind=MachineKind.washer,
            site="CSSD",
            special_pathogen=True,
        ),
        MachineCreate(
            code="ST1",
            name="脉动真空灭菌器1",
            kind=MachineKind.sterilizer,
            site="CSSD",
            method=Method.steam,
            prevacuum=True,
        ),
        MachineCreate(
            code="ST2",
            name="脉动真空灭菌器2",
            kind=MachineKind.sterilizer,
            site="CSSD",
            method=Method.steam,
            prevacuum=True,
        ),
        MachineCreate(
            code="LT1",
            name="过氧化氢低温等离子灭菌器",
            kind=MachineKind.sterilizer,
            site="CSSD",
            method=Method.low_temperature,
        ),
    ):
        cssd.create_machine(session, cssd_staff[0], machine)
    # Yesterday's routine BI on ST2 passed: today's ST2 loads are what a failure would recall.
    cssd.record_test(
        session,
        cssd_staff[0],
        cssd.machine_by_code(session, "ST2"),
        TestIn(kind=TestKind.biological_indicator, passed=True),
        setup,
    )

    progress("items …")
    boxes: dict[str, list[Item]] = {}
    sets: dict[str, list[Item]] = {}
    for site, _ in clinics:
        boxes[site.code] = [
            register_item(
                session,
                None,
                ItemCreate(
                    kind=ItemKind.specimen_box,
                    description=f"标本转运箱 {site.code}-{n}",
                    home_site=site.code,
                ),
                setup_time,
            )
            for n in range(1, 4)
        ]
        sets[site.code] = [
            cssd.register_set(session, cssd_staff[0], SetCreate(template=code, home_site=site.code),
                              setup)
            for code, *_ in rng.sample(SET_TEMPLATES, 4)
        ]  # fmt: skip

    progress("a day of events …")
    demo_day = _Day()

    def minute(hour: int, minute_of_hour: int) -> datetime:
        return datetime.combine(the_day, time(hour, minute_of_hour), zone)

    pending: dict[str, list[EventIn]] = {}

    def queue(device_site: str, event: EventIn) -> None:
        pending.setdefault(device_site, []).append(event)

    def scan(
        device_site: str,
        when: datetime,
        event_type: str,
        item: Item,
        actor: Person,
        counterparty: Person | None = None,
        **details: Any,
    ) -> None:
        event = EventIn(
            event_id=uuid.UUID(int=rng.getrandbits(128)),
            type=event_type,
            item=item.barcode,
            actor=actor.badge,
            counterparty=counterparty.badge if counterparty else None,
            occurred_at=when,
            details=details,
        )
        demo_day.at(when, partial(queue, device_site, event))

    def at(moment: datetime) -> Clock:
        return Clock(moment, zone)

    discrepancy_shown = False

    def receive(when: datetime, tray: Item, courier: Person) -> None:
        nonlocal discrepancy_shown
        asset = cssd.set_asset(session, tray)
        template = session.get(SetTemplate, asset.template_id)
        assert template is not None
        counted = {str(i["name"]): int(i["count"]) for i in template.instruments}
        if not discrepancy_shown:
            # One set comes back a pair of forceps short: it is held with the reason.
            discrepancy_shown = True
            first = next(iter(counted))
            counted[first] -= 1
        cssd.receive_set(
            session,
            rng.choice(cssd_staff),
            ReceiptIn(set=tray.barcode, courier=courier.badge, counted=counted),
            at(when),
        )

    def process(when: datetime, trays: list[Item], sterilizer: str, courier: Person) -> None:
        """Wash, inspect, pack, sterilize, release and send one courier's sets back out."""
        worker, checker = rng.sample(cssd_staff, 2)
        ready = [tray for tray in trays if tray.state == "received_decon"]
        if not ready:
            return
        washer = rng.choice(["WD1", "WD2"])
        wash = cssd.start_wash(
            session,
            worker,
            WashIn(washer=washer, program="标准程序", sets=[t.barcode for t in ready]),
            at(when),
        )
        cssd.finish_wash(
            session,
            worker,
            wash,
            WashFinish(passed=True, parameters={"a0": 3000, "temperature_c": 93}),
            at(when + timedelta(minutes=55)),
        )
        packs = []
        for tray in ready:
            cssd.inspect_set(
                session, checker, tray, InspectionIn(passed=True), at(when + timedelta(minutes=70))
            )
            item, _ = cssd.pack_set(
                session,
                worker,
                PackIn(set=tray.barcode, checker=checker.badge),
                at(when + timedelta(minutes=80)),
            )
            packs.append(item)
        machine = cssd.machine_by_code(session, sterilizer)
        load = cssd.create_load(
            session, worker, machine, "134℃ 4 分钟", at(when + timedelta(minutes=85))
        )
        for item in packs:
            cssd.add_to_load(session, worker, load, item.barcode, at(when + timedelta(minutes=86)))
        cssd.start_load(session, worker, load, at(when + timedelta(minutes=90)))
        cssd.finish_load(
            session,
            worker,
            load,
            LoadFinish(passed=True, temperature_c=134.3, pressure_kpa=212, hold_minutes=4.5),
            at(when + timedelta(minutes=140)),
        )
        cssd.unload(
            session,
            worker,
            load,
            UnloadIn(cooling_minutes=35, chemical_indicator_passed=True),
            at(when + timedelta(minutes=175)),
        )
        cssd.release_load(session, checker, load, None, at(when + timedelta(minutes=185)))
        barcodes = [item.barcode for item in packs]
        cssd.store_packs(session, worker, barcodes, at(when + timedelta(minutes=190)))
        out = max(when + timedelta(minutes=200), minute(14, 40))
        for item in packs:
            pack = session.get(Pack, item.id)
            destination = session.get(Site, pack.destination_site_id) if pack else None
            assert destination is not None
            demo_day.at(out, partial(send, out, item, destination, courier, worker))

    def send(
        when: datetime, item: Item, destination: Site, courier: Person, worker: Person
    ) -> None:
        cssd.dispatch(
            session,
            worker,
            DispatchIn(packs=[item.barcode], courier=courier.badge, destination=destination.code),
            at(when),
        )
        arrival = when + timedelta(minutes=30 + travel_minutes(hospital, destination))
        scan(destination.code, arrival, "deliver", item, courier, clinic_staff[destination.code])

    def bowie_dick(when: datetime) -> None:
        for code in ("ST1", "ST2"):
            cssd.record_test(
                session,
                cssd_staff[0],
                cssd.machine_by_code(session, code),
                TestIn(kind=TestKind.bowie_dick, passed=True),
                at(when),
            )

    def failed_bi(when: datetime) -> None:
        """The BI incubated from ST2's first load reads positive: recall since the last pass."""
        loads = (
            session.execute(
                select(Cycle).where(Cycle.number.like("ST2-%")).order_by(Cycle.started_at)
            )
            .scalars()
            .first()
        )
        cssd.record_test(
            session,
            cssd_staff[1],
            cssd.machine_by_code(session, "ST2"),
            TestIn(
                kind=TestKind.biological_indicator,
                passed=False,
                load=loads.number if loads else None,
                note="培养 阳性",
            ),
            at(when),
        )

    def complete(trip: Trip, when: datetime) -> None:
        specimens.complete_trip(session, trip, when)

    # Couriers take the clinics in four sectors, each in angular order. Each morning run is a
    # trip whose manifest lists every box and set to collect and where it is dropped. Three
    # things go wrong on purpose: a sealed box is left behind (missing from its manifest), a
    # seal is found broken at the laboratory, and a urine box arrives past its time limit.
    ordered = sorted(clinics, key=lambda entry: entry[1] % (2 * math.pi))
    sectors = [ordered[i::4] for i in range(4)]
    for number, (courier, sector) in enumerate(zip(couriers, sectors, strict=True)):
        sector = sorted(sector, key=lambda entry: entry[1] % (2 * math.pi))
        clock = minute(8, 20)
        here: Site = hospital
        carried_boxes: list[tuple[Item, Site, str, float, int]] = []
        carried_sets: list[tuple[Item, Site]] = []
        stops: list[dict[str, Any]] = []
        drops: dict[str, list[str]] = {"LAB": [], "PATH": [], "CSSD": []}
        for stop_index, (site, _) in enumerate(sector):
            staff = clinic_staff[site.code]
            clock += timedelta(minutes=travel_minutes(here, site))
            here = site
            pickups: list[str] = []
            sending = boxes[site.code][: rng.randint(1, 3)]
            for box_index, box in enumerate(sending):
                specimen_type, (low, high), centre = rng.choice(SPECIMENS)
                collected = minute(7, 0) + timedelta(minutes=rng.randint(0, 50))
                late = number == 2 and stop_index == 0 and box_index == 0
                if late:
                    specimen_type, (low, high), centre = "urine", (3.0, 7.5), "LAB"
                    collected = minute(6, 10)
                prepared = max(collected, minute(7, 30)) + timedelta(minutes=rng.randint(0, 20))
                seal = f"S{rng.randint(100000, 999999)}"
                count = rng.randint(4, 24)
                scan(
                    site.code,
                    prepared,
                    "prepare",
                    box,
                    staff,
                    specimen_type=specimen_type,
                    count=count,
                    collected_at=collected.isoformat(),
                    destination=centre,
                )
                scan(site.code, prepared + timedelta(minutes=4), "seal", box, staff, seal=seal)
                pickups.append(box.barcode)
                drops[centre].append(box.barcode)
                if number == 0 and stop_index == 0 and box_index == 0:
                    continue  # left behind at the clinic: the manifest will say it is missing
                reading = round(rng.uniform(low, high), 1)
                scan(
                    site.code,
                    clock + timedelta(minutes=2),
                    "pickup",
                    box,
                    courier,
                    staff,
                    seal=seal,
                    seal_intact=True,
                    temperature_c=reading,
                )
                carried_boxes.append((box, site, seal, reading, count))
            for tray in sets[site.code][: rng.randint(1, 2)]:
                scan(site.code, minute(7, 45), "return_used", tray, staff, precleaned=True)
                scan(site.code, clock + timedelta(minutes=4), "collect", tray, courier, staff)
                carried_sets.append((tray, site))
                pickups.append(tray.barcode)
                drops["CSSD"].append(tray.barcode)
            stops.append({"site": site.code, "planned_arrival": clock, "pickups": pickups})
            clock += timedelta(minutes=8)
        clock += timedelta(minutes=travel_minutes(here, hospital))
        for centre in ("LAB", "PATH", "CSSD"):
            stops.append({"site": centre, "planned_arrival": clock, "drops": drops[centre]})
        trip = specimens.create_trip(
            session, dispatcher, courier.badge, the_day, f"鄂J·{7301 + number}", stops
        )
        back_home = clock + timedelta(minutes=30)
        demo_day.at(back_home, partial(complete, trip, back_home))
        for box_index, (box, origin, seal, reading, count) in enumerate(carried_boxes):
            centre = next(code for code, listed in drops.items() if box.barcode in listed)
            receiver = path_staff if centre == "PATH" else rng.choice(lab_staff)
            broken = number == 1 and box_index == 0
            scan(
                centre,
                clock + timedelta(minutes=5),
                "receive",
                box,
                receiver,
                courier,
                seal=seal,
                seal_intact=not broken,
                temperature_c=reading,
                count=count,
            )
            if broken:
                scan(
                    centre,
                    clock + timedelta(minutes=15),
                    "accept",
                    box,
                    receiver,
                    note="封条破损，标本完好，已在报告中注明",
                )
            else:
                scan(centre, clock + timedelta(minutes=12), "accept", box, receiver)
            scan(centre, clock + timedelta(minutes=25), "open", box, receiver)
            back = max(minute(14, 30), clock + timedelta(minutes=40))
            scan(centre, back, "dispatch", box, receiver, courier)
            scan(
                origin.code,
                back + timedelta(minutes=40 + rng.randint(0, 90)),
                "deliver",
                box,
                courier,
                clinic_staff[origin.code],
            )
        if carried_sets:
            back_at_cssd = clock + timedelta(minutes=10)
            sterilizer = "ST1" if couriers.index(courier) % 2 == 0 else "ST2"
            for tray, _ in carried_sets:
                demo_day.at(back_at_cssd, partial(receive, back_at_cssd, tray, courier))
            trays = [tray for tray, _ in carried_sets]
            demo_day.at(
                back_at_cssd + timedelta(minutes=20),
                partial(
                    process,
                    back_at_cssd + timedelta(minutes=20),
                    trays,
                    sterilizer,
                    couriers[(couriers.index(courier) + 1) % len(couriers)],
                ),
            )

    # Work left open for the next run, for `handoff plan` / POST /api/v1/plans: late in the
    # day a third of the clinics seal a box with a long time limit and put a used set out.
    # Its own random stream, so the day above stays as it was.
    later = random.Random(seed * 7919 + 1)

    def open_scan(site: Site, when: datetime, kind: str, item: Item, **details: Any) -> None:
        event = EventIn(
            event_id=uuid.UUID(int=later.getrandbits(128)),
            type=kind,
            item=item.barcode,
            actor=clinic_staff[site.code].badge,
            occurred_at=when,
            details=details,
        )
        demo_day.at(when, partial(queue, site.code, event))

    for index, (site, _) in enumerate(ordered[::3]):
        box = register_item(
            session,
            None,
            ItemCreate(
                kind=ItemKind.specimen_box,
                description=f"标本转运箱 {site.code}-4",
                home_site=site.code,
            ),
            setup_time,
        )
        sealed = minute(16, 0) + timedelta(minutes=later.randint(0, 40))
        specimen_type = "frozen_plasma" if index % 3 == 0 else "micro_swab"
        open_scan(
            site,
            sealed - timedelta(minutes=5),
            "prepare",
            box,
            specimen_type=specimen_type,
            count=later.randint(2, 12),
            collected_at=(sealed - timedelta(minutes=30)).isoformat(),
            destination="LAB",
        )
        open_scan(site, sealed, "seal", box, seal=f"S{later.randint(100000, 999999)}")
        open_scan(site, sealed + timedelta(minutes=10), "return_used", sets[site.code][3])

    demo_day.at(minute(7, 0), partial(bowie_dick, minute(7, 0)))
    demo_day.at(minute(20, 45), partial(failed_bi, minute(20, 45)))

    def flush(now: datetime) -> int:
        stored = 0
        for site_code, events in pending.items():
            if events:
                response, rejected = ingest(
                    session, Principal(device=devices[site_code]), events, settings, now
                )
                if rejected:
                    raise RuntimeError(f"demo events were rejected: {response.results}")
                stored += len(events)
        pending.clear()
        return stored

    total, last_hour = 0, -1

    def before_each(when: datetime) -> None:
        nonlocal total, last_hour
        if any(events and events[-1].occurred_at < when for events in pending.values()):
            total += flush(when + timedelta(seconds=20))
        if when.hour != last_hour:
            last_hour = when.hour
            progress(f"  {when:%H:00} — {total} scans stored so far")

    demo_day.replay(before_each)
    total += flush(datetime.combine(the_day, time(23, 0), zone))

    if token_file is not None:
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text("site\tdevice\ttoken\n" + "\n".join(tokens) + "\n")
        token_file.chmod(0o600)
    items = session.execute(select(func.count()).select_from(Item)).scalar_one()
    plan_day = the_day + timedelta(days=1)
    return (
        f"demo county loaded: the history of {the_day}, open work to plan for "
        f"{plan_day} (handoff plan --date {plan_day}); "
        f"{3 + 1 + len(clinics)} sites, "
        f"{len(used_names)} people, {len(devices)} devices, {items} items, {total} scans; "
        f"log in as admin / {DEMO_PASSWORD}"
        + (f"; device tokens in {token_file}" if token_file else "")
    )


def simulation_county(session: Session, clinics: int | None = None) -> SimulatedCounty:
    """The demo county as ``handoff simulate`` plays a day of it (server.simulation.day).

    Read from the database: the clinics (the first ``clinics`` of them by code) with their
    staff and the specimen boxes empty there now, the couriers, the receivers at the
    laboratory and the pathology centre, and the specimen types the townships send.
    """

    def place(site: Site) -> Place:
        return Place(site.code, site.latitude, site.longitude)

    sites = {site.id: site for site in session.execute(select(Site)).scalars()}
    by_code = {site.code: site for site in sites.values()}
    if "CH" not in by_code or not {"LAB", "PATH"} <= set(by_code):
        raise Conflict("this database does not hold the demo county (run handoff demo)")
    people = session.execute(
        select(Person).where(Person.active.is_(True)).order_by(Person.username, Person.badge)
    ).scalars()
    staff: dict[str, list[str]] = {}
    couriers: list[str] = []
    for person in people:
        home = sites.get(person.home_site_id) if person.home_site_id else None
        if person.role == Role.courier:
            couriers.append(person.badge)
        elif home is not None and person.role in (Role.clinic_staff, Role.lab_receiver):
            staff.setdefault(home.code, []).append(person.badge)
    empty: dict[str, list[str]] = {}
    for item in session.execute(
        select(Item)
        .where(Item.kind == ItemKind.specimen_box, Item.state == "available", Item.active)
        .order_by(Item.barcode)
    ).scalars():
        home = sites.get(item.home_site_id) if item.home_site_id else None
        if home is not None:
            empty.setdefault(home.code, []).append(item.barcode)
    townships = sorted(
        (s for s in sites.values() if s.kind == SiteKind.township_clinic and s.code in staff),
        key=lambda site: site.code,
    )[:clinics]
    return SimulatedCounty(
        hub=place(by_code["CH"]),
        clinics=tuple(
            SimulatedClinic(place(site), staff[site.code][0], tuple(empty.get(site.code, ())))
            for site in townships
        ),
        couriers=tuple(couriers),
        receivers={code: tuple(staff.get(code, ())) for code in ("LAB", "PATH")},
        specimens=tuple((code, centre) for code, _, centre in SPECIMENS),
    )


def read_device_tokens(path: Path) -> dict[str, str]:
    """Site code → device token, from the file ``load_demo`` writes."""
    tokens = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            tokens[parts[0]] = parts[2]
    return tokens
