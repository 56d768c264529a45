"""The sterile supply workflow: each step writes its records and custody events together.

A command whose rules fail is refused (409) with the catalogue's words and writes nothing;
the same step scanned at a station arrives through ingest and is stored with flags instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labels.gs1 import Gs1Error, parse_gs1
from labels.identity import Kind, new_id
from server import audit
from server.auth.service import ACTING_DEVICE
from server.cssd import guards, rules
from server.cssd.rules import (
    CycleKind,
    CycleStatus,
    MachineKind,
    MachineStatus,
    TestKind,
)
from server.cssd.schemas import (
    BoardRead,
    DeliveryIn,
    DispatchIn,
    EmergencyRelease,
    InspectionIn,
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
from server.custody import ledger
from server.custody.flags import Flag
from server.custody.lifecycle import LIFECYCLES, apply
from server.custody.messages import render_all
from server.enums import ItemKind
from server.errors import BadRequest, Conflict, NotFound
from server.items.schemas import ItemCreate
from server.items.service import register_item
from server.lookup import checked_id, item_by_barcode, person_by_badge, site_by_ref
from server.models import (
    Cycle,
    CycleItem,
    Gs1Link,
    Item,
    Machine,
    MachineTest,
    Notification,
    Pack,
    Person,
    Recall,
    SetAsset,
    SetTemplate,
    Site,
)
from server.specimens.rules import AlertKind
from server.specimens.service import raise_alert


class RuleRefused(Conflict):
    """A command the sterile-supply rules refuse; nothing was written."""

    def __init__(self, flags: Sequence[Flag]) -> None:
        super().__init__(
            render_all(flags, "en"),
            extra={"detail_zh": render_all(flags, "zh"), "codes": [f.code for f in flags]},
        )


def _wrong_cycle_status(cycle: Cycle) -> RuleRefused:
    return RuleRefused(
        [Flag("load_not_unloaded", {"load": cycle.number, "load_status": cycle.status})]
    )


def refuse_if(flags: Sequence[Flag]) -> None:
    if flags:
        raise RuleRefused(flags)


@dataclass(frozen=True, slots=True)
class Clock:
    """The moment of a command and the consortium's calendar."""

    now: datetime
    zone: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def _record(
    session: Session,
    clock: Clock,
    items: Sequence[Item],
    event_type: str,
    actor: Person | None,
    *,
    site: uuid.UUID | None = None,
    counterparty: Person | None = None,
    details: dict[str, Any] | None = None,
) -> list[ledger.Appended]:
    """Append one event of ``event_type`` for each item, in the caller's unit of work.

    A station device acting for the person (``X-Handoff-Badge``) is recorded as the device.
    """
    device = session.info.get(ACTING_DEVICE)
    head = ledger.lock_head(session)
    drafts = [
        ledger.Draft(
            event_id=uuid.uuid4(),
            item=item,
            type=event_type,
            occurred_at=clock.now,
            actor_id=actor.id if actor else None,
            counterparty_id=counterparty.id if counterparty else None,
            site_id=site,
            device_id=device.id if device is not None else None,
            details=details or {},
        )
        for item in items
    ]
    return ledger.append(session, head, drafts, clock.now)


def _refuse_state(item: Item, *allowed: str) -> None:
    if item.state not in allowed:
        from server.custody.lifecycle import LIFECYCLES

        lifecycle = LIFECYCLES[item.kind]
        expected = ",".join(sorted({e for (s, e) in lifecycle.table if s == item.state}))
        raise RuleRefused(
            [
                Flag(
                    "out_of_sequence",
                    {
                        "kind": item.kind,
                        "state": item.state,
                        "event": _STEP_OF[allowed[0]],
                        "allowed": expected,
                    },
                )
            ]
        )


# The event a command performs from each state it accepts (used only to word refusals).
_STEP_OF = {
    "in_transit_dirty": "receive",
    "awaiting_collection": "receive",
    "received_decon": "wash_start",
    "washing": "wash_pass",
    "washed": "inspect_pass",
    "inspected": "pack",
    "packed": "load",
    "on_hold": "release_hold",
    "released": "store",
    "in_transit_clean": "deliver",
    "received_at_site": "use",
}


def _refuse_unless_allowed(item: Item, event_type: str) -> None:
    """Refuse a command whose event the item's lifecycle table does not allow now."""
    flag = apply(item.kind, item.state, event_type).flag
    if flag is not None:
        raise RuleRefused([flag])


# --- set templates and sets -----------------------------------------------------------


def create_template(session: Session, actor: Person, data: TemplateCreate) -> SetTemplate:
    if session.execute(select(SetTemplate.id).where(SetTemplate.code == data.code)).first():
        raise Conflict(f"a set template with code {data.code} already exists")
    template = SetTemplate(**data.model_dump(mode="json"))
    session.add(template)
    session.flush()
    audit.record(
        session, actor, "template.create", "set_template", data.code, data.model_dump(mode="json")
    )
    return template


def template_by_code(session: Session, code: str) -> SetTemplate:
    template = session.execute(
        select(SetTemplate).where(SetTemplate.code == code)
    ).scalar_one_or_none()
    if template is None:
        raise NotFound(f"no set template has the code {code[:40]}")
    return template


def register_set(session: Session, actor: Person, data: SetCreate, clock: Clock) -> Item:
    template = template_by_code(session, data.template)
    item = register_item(
        session,
        actor,
        ItemCreate(
            kind=ItemKind.instrument_set,
            barcode=data.barcode,
            description=f"{template.name_zh} {template.name_en}",
            home_site=data.home_site,
        ),
        clock.now,
    )
    session.add(
        SetAsset(
            item_id=item.id, template_id=template.id, loaner=data.loaner, supplier=data.supplier
        )
    )
    session.flush()
    return item


def set_asset(session: Session, item: Item) -> SetAsset:
    if item.kind != ItemKind.instrument_set:
        raise BadRequest(f"{item.barcode} is not an instrument set")
    asset = session.get(SetAsset, item.id)
    if asset is None:
        raise NotFound(f"{item.barcode} has no set record (register it through /cssd/sets)")
    return asset


def link_gs1(session: Session, actor: Person, item: Item, code: str) -> Gs1Link:
    """Link a manufacturer's GS1 code (GTIN + serial, or GIAI) to a set."""
    set_asset(session, item)
    try:
        data = parse_gs1(code)
    except Gs1Error as error:
        raise BadRequest(error.reason) from None
    if not (data.giai or (data.gtin and data.serial)):
        raise BadRequest("a GS1 code identifies one set only with (01)+(21) or (8004)")
    hri = data.hri()
    existing = session.execute(select(Gs1Link).where(Gs1Link.hri == hri)).scalar_one_or_none()
    if existing is not None:
        if existing.item_id == item.id:
            return existing
        other = session.get(Item, existing.item_id)
        raise Conflict(f"{hri} is already linked to {other.barcode if other else 'another set'}")
    link = Gs1Link(hri=hri, gtin=data.gtin, serial=data.serial, giai=data.giai, item_id=item.id)
    session.add(link)
    session.flush()
    audit.record(session, actor, "set.link_gs1", "item", item.barcode, {"gs1": hri})
    return link


def set_by_gs1(session: Session, code: str) -> Item:
    try:
        hri = parse_gs1(code).hri()
    except Gs1Error as error:
        raise BadRequest(error.reason) from None
    link = session.execute(select(Gs1Link).where(Gs1Link.hri == hri)).scalar_one_or_none()
    if link is None:
        raise NotFound(f"no set is linked to {hri}")
    item = session.get(Item, link.item_id)
    assert item is not None
    return item


def record_loaner_test(
    session: Session,
    actor: Person,
    item: Item,
    passed: bool,
    parameters: dict[str, Any],
    clock: Clock,
) -> SetAsset:
    asset = set_asset(session, item)
    if not asset.loaner:
        raise BadRequest(f"{item.barcode} is not a loaner set")
    _record(
        session,
        clock,
        [item],
        "note",
        actor,
        details={
            "loaner_first_use_test": "passed" if passed else "failed",
            "parameters": parameters,
        },
    )
    if passed:
        asset.loaner_tested_at = clock.now
    session.flush()
    return asset


def return_loaner(session: Session, actor: Person, item: Item, clock: Clock) -> SetAsset:
    asset = set_asset(session, item)
    if not asset.loaner:
        raise BadRequest(f"{item.barcode} is not a loaner set")
    _record(session, clock, [item], "note", actor, details={"loaner_returned_to": asset.supplier})
    asset.loaner_returned_at = clock.now
    item.active = False
    session.flush()
    return asset


# --- receipt, washing, inspection, packing ---------------------------------------------


def receive_set(session: Session, actor: Person, data: ReceiptIn, clock: Clock) -> Item:
    """Receive a used set at the CSSD; a count that differs from the template holds it."""
    item = item_by_barcode(session, data.set)
    asset = set_asset(session, item)
    _refuse_state(item, "in_transit_dirty", "awaiting_collection", "packed")
    pack = guards.current_packs(session, [item.id]).get(item.id)
    refuse_if(
        rules.set_return_flags(
            item.barcode, item.state, pack.barcode if pack else None, pack.state if pack else None
        )
    )
    courier = person_by_badge(session, data.courier) if data.courier else None
    template = session.get(SetTemplate, asset.template_id)
    assert template is not None
    details: dict[str, Any] = {"special_pathogen": data.special_pathogen}
    discrepancies = {}
    if data.counted is not None:
        expected = {str(i["name"]): int(i["count"]) for i in template.instruments}
        discrepancies = rules.count_discrepancies(expected, data.counted)
        details["count_matches"] = not discrepancies
        details["discrepancies"] = {k: list(v) for k, v in discrepancies.items()}
    if item.state == "packed" and pack is not None:
        # Taken back from a pack out of use (set_return_flags let it through): that pack is
        # done with, and its set starts a new cycle here. (A pack recalled after use keeps
        # its state: the recall report shows it.)
        _record(
            session, clock, [pack], "reprocess", actor, site=actor.home_site_id,
            details={"set": item.barcode},
        )  # fmt: skip
    if item.state == "awaiting_collection":
        _record(session, clock, [item], "collect", courier, site=item.current_site_id)
    _record(
        session,
        clock,
        [item],
        "receive",
        actor,
        site=actor.home_site_id,
        counterparty=courier,
        details=details,
    )
    asset.special_pathogen = asset.special_pathogen or data.special_pathogen
    if discrepancies:
        items = ", ".join(f"{name} {want}→{got}" for name, (want, got) in discrepancies.items())
        flag = Flag("count_discrepancy", {"items": items})
        asset.hold_reason = render_all([flag], "zh")
        _record(
            session,
            clock,
            [item],
            "hold",
            actor,
            site=actor.home_site_id,
            details={"reason": "count_discrepancy", "discrepancies": details["discrepancies"]},
        )
        _notify(session, item.home_site_id, "count_discrepancy", [flag], item.barcode)
    session.flush()
    return item


def release_hold(
    session: Session, actor: Person, item: Item, resolution: str, clock: Clock
) -> Item:
    asset = set_asset(session, item)
    _refuse_state(item, "on_hold")
    _record(
        session,
        clock,
        [item],
        "release_hold",
        actor,
        site=actor.home_site_id,
        details={"resolution": resolution},
    )
    asset.hold_reason = None
    session.flush()
    return item


def machine_by_code(session: Session, code: str) -> Machine:
    machine = session.execute(
        select(Machine).where((Machine.code == code) | (Machine.barcode == code))
    ).scalar_one_or_none()
    if machine is None:
        raise NotFound(f"no washer or sterilizer has the code {code[:40]}")
    return machine


def _cycle_number(session: Session, machine: Machine, clock: Clock) -> str:
    day = clock.today
    prefix = f"{machine.code}-{day:%Y%m%d}-"
    count = session.execute(
        select(func.count()).select_from(Cycle).where(Cycle.number.like(prefix + "%"))
    ).scalar_one()
    return f"{prefix}{count + 1:02d}"


def start_wash(session: Session, actor: Person, data: WashIn, clock: Clock) -> Cycle:
    washer = machine_by_code(session, data.washer)
    if washer.kind != MachineKind.washer:
        raise BadRequest(f"{washer.code} is not a washer-disinfector")
    flags: list[Flag] = []
    if washer.status != MachineStatus.in_service:
        flags.append(
            Flag(
                "machine_not_in_service", {"machine": washer.code, "machine_status": washer.status}
            )
        )
    items = [item_by_barcode(session, code) for code in dict.fromkeys(data.sets)]
    for item in items:
        asset = set_asset(session, item)
        _refuse_state(item, "received_decon")
        if asset.special_pathogen and not washer.special_pathogen:
            flags.append(Flag("special_pathogen_path", {"set": item.barcode}))
        if asset.loaner and asset.loaner_tested_at is None:
            flags.append(Flag("loaner_untested", {"set": item.barcode}))
    refuse_if(flags)
    cycle = Cycle(
        barcode=new_id(Kind.CYCLE),
        number=_cycle_number(session, washer, clock),
        kind=CycleKind.wash,
        machine_id=washer.id,
        program=data.program,
        status=CycleStatus.running,
        operator_id=actor.id,
        started_at=clock.now,
    )
    session.add(cycle)
    session.flush()
    session.add_all(CycleItem(cycle_id=cycle.id, item_id=item.id) for item in items)
    session.flush()
    _record(
        session,
        clock,
        items,
        "wash_start",
        actor,
        site=washer.site_id,
        details={"washer": washer.code, "cycle": cycle.number, "program": data.program},
    )
    return cycle


def cycle_by_ref(session: Session, ref: str, kind: CycleKind) -> Cycle:
    cycle = session.execute(
        select(Cycle).where(((Cycle.number == ref) | (Cycle.barcode == ref)) & (Cycle.kind == kind))
    ).scalar_one_or_none()
    if cycle is None:
        raise NotFound(f"no {'washer cycle' if kind == CycleKind.wash else 'load'} {ref[:40]}")
    return cycle


def _cycle_items(session: Session, cycle: Cycle) -> list[Item]:
    return list(
        session.execute(
            select(Item)
            .join(CycleItem, CycleItem.item_id == Item.id)
            .where(CycleItem.cycle_id == cycle.id)
            .order_by(Item.barcode)
        ).scalars()
    )


def _close_cycle_items(session: Session, cycle: Cycle) -> None:
    session.execute(update(CycleItem).where(CycleItem.cycle_id == cycle.id).values(active=False))


def finish_wash(
    session: Session, actor: Person, cycle: Cycle, data: WashFinish, clock: Clock
) -> Cycle:
    if cycle.status != CycleStatus.running:
        raise _wrong_cycle_status(cycle)
    items = _cycle_items(session, cycle)
    machine = session.get(Machine, cycle.machine_id)
    cycle.ended_at = clock.now
    cycle.parameters = data.parameters
    if data.passed:
        cycle.status = CycleStatus.passed
        _record(
            session,
            clock,
            items,
            "wash_pass",
            actor,
            site=machine.site_id if machine else None,
            details={"cycle": cycle.number, **data.parameters},
        )
    else:
        cycle.status = CycleStatus.aborted
        cycle.failure_reason = data.reason or "aborted"
        _record(
            session,
            clock,
            items,
            "wash_abort",
            actor,
            site=machine.site_id if machine else None,
            details={"cycle": cycle.number, "reason": cycle.failure_reason},
        )
    _close_cycle_items(session, cycle)
    session.flush()
    return cycle


def inspect_set(
    session: Session, actor: Person, item: Item, data: InspectionIn, clock: Clock
) -> Item:
    set_asset(session, item)
    _refuse_state(item, "washed")
    details = {"note": data.note} if data.note else {}
    if data.passed:
        _record(
            session, clock, [item], "inspect_pass", actor, site=actor.home_site_id, details=details
        )
    else:
        _record(
            session, clock, [item], "inspect_fail", actor, site=actor.home_site_id, details=details
        )
        if data.repair:
            _record(
                session,
                clock,
                [item],
                "repair_start",
                actor,
                site=actor.home_site_id,
                details=details,
            )
    return item


def pack_set(session: Session, packer: Person, data: PackIn, clock: Clock) -> tuple[Item, Pack]:
    """Pack an inspected set: a new pack instance with its label data and expiry."""
    item = item_by_barcode(session, data.set)
    asset = set_asset(session, item)
    _refuse_state(item, "inspected")
    checker = person_by_badge(session, data.checker)
    if checker.id == packer.id:
        raise BadRequest("the checker must be a second person, not the packer")
    template = session.get(SetTemplate, asset.template_id)
    assert template is not None
    material = data.packaging_material or template.packaging_material
    try:
        expires = rules.last_valid_day(clock.today, material, data.storage_condition)
    except rules.ExpiryError as error:
        raise RuleRefused([error.flag]) from None
    destination = site_by_ref(session, data.destination) if data.destination else None
    _record(
        session,
        clock,
        [item],
        "pack",
        packer,
        site=packer.home_site_id,
        counterparty=checker,
        details={"packaging": material},
    )
    pack_item = register_item(
        session,
        packer,
        ItemCreate(
            kind=ItemKind.pack,
            description=f"{template.name_zh} {template.name_en}",
            home_site=None,
            attributes={"set": item.barcode},
        ),
        clock.now,
        site=session.get(Site, packer.home_site_id) if packer.home_site_id else None,
    )
    pack = Pack(
        item_id=pack_item.id,
        set_item_id=item.id,
        template_id=template.id,
        packer_id=packer.id,
        checker_id=checker.id,
        packaging_material=material,
        storage_condition=data.storage_condition,
        packed_at=clock.now,
        destination_site_id=destination.id if destination else item.home_site_id,
        expires_on=expires,
    )
    session.add(pack)
    asset.cycles_done += 1
    session.flush()
    return pack_item, pack


def pack_by_barcode(session: Session, code: str) -> tuple[Item, Pack]:
    item = item_by_barcode(session, code)
    if item.kind != ItemKind.pack:
        raise BadRequest(f"{item.barcode} is not a pack")
    pack = session.get(Pack, item.id)
    if pack is None:  # a pack label registered but never packed
        raise RuleRefused([Flag("no_packing_record", {"pack": item.barcode})])
    return item, pack


# --- machines, tests, loads --------------------------------------------------------------


def create_machine(session: Session, actor: Person, data: MachineCreate) -> Machine:
    if session.execute(select(Machine.id).where(Machine.code == data.code)).first():
        raise Conflict(f"a machine with code {data.code} already exists")
    if data.kind == MachineKind.sterilizer and data.method is None:
        raise BadRequest("a sterilizer needs its method (steam or low_temperature)")
    site = site_by_ref(session, data.site)
    machine = Machine(
        barcode=new_id(Kind.MACHINE),
        code=data.code,
        name=data.name,
        kind=data.kind,
        method=data.method,
        prevacuum=data.prevacuum,
        special_pathogen=data.special_pathogen,
        site_id=site.id,
    )
    session.add(machine)
    session.flush()
    audit.record(
        session, actor, "machine.create", "machine", machine.code, data.model_dump(mode="json")
    )
    return machine


def _bowie_dick_passed_today(session: Session, machine: Machine, clock: Clock) -> bool:
    last = session.execute(
        select(MachineTest.passed)
        .where(
            MachineTest.machine_id == machine.id,
            MachineTest.kind == TestKind.bowie_dick,
            MachineTest.local_day == clock.today,
        )
        .order_by(MachineTest.performed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return bool(last)


def machine_facts(session: Session, machine: Machine, clock: Clock) -> rules.MachineFacts:
    return rules.MachineFacts(
        machine.code,
        machine.status,
        machine.method,
        machine.prevacuum,
        _bowie_dick_passed_today(session, machine, clock),
    )


def record_test(
    session: Session, actor: Person, machine: Machine, data: TestIn, clock: Clock
) -> tuple[MachineTest, Recall | None]:
    """A Bowie-Dick or biological-indicator result; a failed BI recalls (WS 310.3)."""
    if machine.kind != MachineKind.sterilizer:
        raise BadRequest(f"{machine.code} is not a sterilizer")
    load = cycle_by_ref(session, data.load, CycleKind.sterilization) if data.load else None
    if load is not None and load.machine_id != machine.id:
        raise BadRequest(f"load {load.number} ran on another sterilizer")
    test = MachineTest(
        machine_id=machine.id,
        kind=data.kind,
        passed=data.passed,
        performed_at=clock.now,
        local_day=clock.today,
        cycle_id=load.id if load else None,
        operator_id=actor.id,
        lot=data.lot,
        note=data.note,
    )
    session.add(test)
    if load is not None and data.kind == TestKind.biological_indicator:
        load.bi_passed = data.passed
    machine.status, machine.requalification_passes, machine.status_reason = (
        rules.machine_after_test(
            machine.status,
            machine.requalification_passes,
            machine.status_reason,
            data.kind,
            data.passed,
        )
    )
    session.flush()
    recall = None
    if data.kind == TestKind.biological_indicator and not data.passed:
        recall = recall_since_last_pass(session, actor, machine, test, clock)
    if load is not None and data.kind == TestKind.biological_indicator:
        _tell_where_emergency_packs_are(session, load, data.passed)
    audit.record(
        session,
        actor,
        "machine.test",
        "machine",
        machine.code,
        {"kind": data.kind, "passed": data.passed, "load": load.number if load else None},
    )
    return test, recall


def create_load(
    session: Session, actor: Person, sterilizer: Machine, program: str, clock: Clock
) -> Cycle:
    if sterilizer.kind != MachineKind.sterilizer:
        raise BadRequest(f"{sterilizer.code} is not a sterilizer")
    load = Cycle(
        barcode=new_id(Kind.CYCLE),
        number=_cycle_number(session, sterilizer, clock),
        kind=CycleKind.sterilization,
        machine_id=sterilizer.id,
        program=program,
        status=CycleStatus.building,
        operator_id=actor.id,
    )
    session.add(load)
    session.flush()
    return load


def add_to_load(session: Session, actor: Person, load: Cycle, code: str, clock: Clock) -> Pack:
    item, pack = pack_by_barcode(session, code)
    _refuse_state(item, "packed")
    machine = session.get(Machine, load.machine_id)
    assert machine is not None
    template = session.get(SetTemplate, pack.template_id)
    assert template is not None
    other = session.execute(
        select(Cycle.number)
        .join(CycleItem, CycleItem.cycle_id == Cycle.id)
        .where(CycleItem.item_id == item.id, CycleItem.active.is_(True))
    ).scalar_one_or_none()
    refuse_if(
        rules.add_to_load_flags(
            item.barcode,
            template.method,
            machine_facts(session, machine, clock),
            load.status,
            other,
        )
    )
    session.add(CycleItem(cycle_id=load.id, item_id=item.id))
    pack.load_id = load.id
    load.implant = load.implant or template.implant
    load.bi_required = load.bi_required or template.implant
    session.flush()
    _record(
        session,
        clock,
        [item],
        "load",
        actor,
        site=machine.site_id,
        details={"load": load.number, "sterilizer": machine.code},
    )
    return pack


def start_load(session: Session, actor: Person, load: Cycle, clock: Clock) -> Cycle:
    machine = session.get(Machine, load.machine_id)
    assert machine is not None
    if load.status != CycleStatus.building:
        raise _wrong_cycle_status(load)
    items = _cycle_items(session, load)
    refuse_if(rules.load_start_flags(machine_facts(session, machine, clock), len(items)))
    load.status, load.started_at, load.operator_id = CycleStatus.running, clock.now, actor.id
    _record(
        session,
        clock,
        items,
        "sterilize_start",
        actor,
        site=machine.site_id,
        details={"load": load.number, "program": load.program},
    )
    return load


def finish_load(
    session: Session, actor: Person, load: Cycle, data: LoadFinish, clock: Clock
) -> Cycle:
    """The cycle record at the end of a run; failed parameters fail the load."""
    if load.status != CycleStatus.running or load.ended_at is not None:
        raise _wrong_cycle_status(load)
    machine = session.get(Machine, load.machine_id)
    assert machine is not None
    record = rules.CycleRecord(data.temperature_c, data.pressure_kpa, data.hold_minutes)
    problems = rules.cycle_record_flags(record, data.passed)
    if data.passed:
        refuse_if(problems)  # a passed cycle needs its whole physical record to be released
    load.ended_at = clock.now
    load.parameters = {
        "temperature_c": data.temperature_c,
        "pressure_kpa": data.pressure_kpa,
        "hold_minutes": data.hold_minutes,
        "passed": data.passed,
    }
    items = _cycle_items(session, load)
    if not data.passed:
        _fail_load(session, actor, load, items, problems, data.reason, clock)
        return load
    _record(
        session,
        clock,
        items,
        "sterilize_end",
        actor,
        site=machine.site_id,
        details={"load": load.number, **load.parameters},
    )
    return load


def _fail_load(
    session: Session,
    actor: Person,
    load: Cycle,
    items: Sequence[Item],
    flags: Sequence[Flag],
    reason: str | None,
    clock: Clock,
) -> None:
    load.status = CycleStatus.failed
    load.failure_reason = reason or render_all(flags, "zh")
    machine = session.get(Machine, load.machine_id)
    _record(
        session,
        clock,
        items,
        "load_fail",
        actor,
        site=machine.site_id if machine else None,
        details={"load": load.number, "reason": load.failure_reason},
    )
    _close_cycle_items(session, load)
    session.flush()


def unload(session: Session, actor: Person, load: Cycle, data: UnloadIn, clock: Clock) -> Cycle:
    if load.status != CycleStatus.running or load.ended_at is None:
        raise _wrong_cycle_status(load)
    record = rules.UnloadRecord(
        data.cooling_minutes,
        data.chemical_indicator_passed,
        [checked_id(code, Kind.PACK) for code in data.wet_packs],
    )
    refuse_if(rules.cooling_flags(record))
    items = _cycle_items(session, load)
    unknown = set(record.wet_packs) - {item.barcode for item in items}
    if unknown:
        raise BadRequest(f"not in load {load.number}: {', '.join(sorted(unknown))}")
    load.unload = {
        "cooling_minutes": data.cooling_minutes,
        "chemical_indicator_passed": data.chemical_indicator_passed,
        "wet_packs": list(record.wet_packs),
    }
    machine = session.get(Machine, load.machine_id)
    site = machine.site_id if machine else None
    if not data.chemical_indicator_passed:
        _fail_load(session, actor, load, items, rules.unload_flags(record), None, clock)
        return load
    wet = [item for item in items if item.barcode in record.wet_packs]
    dry = [item for item in items if item.barcode not in record.wet_packs]
    if wet:
        _record(
            session,
            clock,
            wet,
            "load_fail",
            actor,
            site=site,
            details={"load": load.number, "reason": "wet pack"},
        )
        session.execute(
            update(CycleItem)
            .where(CycleItem.cycle_id == load.id, CycleItem.item_id.in_([i.id for i in wet]))
            .values(active=False)
        )
    load.status = CycleStatus.unloaded
    _record(session, clock, dry, "quarantine", actor, site=site, details={"load": load.number})
    return load


def release_load(
    session: Session,
    reviewer: Person,
    load: Cycle,
    emergency: EmergencyRelease | None,
    clock: Clock,
) -> Cycle:
    """Release a load by a named reviewer; sets each pack's sterilization day and expiry."""
    approver = person_by_badge(session, emergency.approver) if emergency else None
    if emergency is not None and not emergency.type5_indicator_passed:
        raise RuleRefused([Flag("implant_waits_for_bi", {"load": load.number})])
    facts = rules.ReleaseFacts(
        load.number,
        load.status,
        bool(load.parameters.get("passed")),
        load.implant,
        load.bi_passed,
        emergency is not None,
    )
    refuse_if(rules.release_flags(facts))
    if emergency is not None and approver is not None:
        load.emergency_release = {
            "type5_indicator_passed": True,
            "approver": approver.badge,
            "reason": emergency.reason,
            "at": clock.now.isoformat(),
        }
    load.status, load.released_by_id, load.released_at = (
        CycleStatus.released,
        reviewer.id,
        clock.now,
    )
    assert load.started_at is not None
    sterilized_on = clock.local_day(load.started_at)
    items = [item for item in _cycle_items(session, load) if item.state == "quarantine"]
    machine = session.get(Machine, load.machine_id)
    for item in items:
        pack = session.get(Pack, item.id)
        assert pack is not None
        pack.sterilized_on = sterilized_on
        pack.expires_on = rules.last_valid_day(
            sterilized_on, pack.packaging_material, pack.storage_condition
        )
    _record(
        session,
        clock,
        items,
        "release",
        reviewer,
        site=machine.site_id if machine else None,
        details={"load": load.number, "emergency": load.emergency_release is not None},
    )
    _close_cycle_items(session, load)
    session.flush()
    return load


# --- recall -------------------------------------------------------------------------


def recall_since_last_pass(
    session: Session, actor: Person, machine: Machine, failed: MachineTest, clock: Clock
) -> Recall:
    """Recall every pack of every load on ``machine`` since its last passed BI."""
    last_pass = session.execute(
        select(func.max(MachineTest.performed_at)).where(
            MachineTest.machine_id == machine.id,
            MachineTest.kind == TestKind.biological_indicator,
            MachineTest.passed.is_(True),
            MachineTest.id != failed.id,
        )
    ).scalar_one_or_none()
    loads_query = select(Cycle).where(Cycle.machine_id == machine.id, Cycle.started_at.is_not(None))
    if last_pass is not None:
        # A BI rides in a load: the last good BI vouches for loads that started before it.
        passed_load_start = session.execute(
            select(Cycle.started_at)
            .join(MachineTest, MachineTest.cycle_id == Cycle.id)
            .where(MachineTest.machine_id == machine.id, MachineTest.performed_at == last_pass)
        ).scalar_one_or_none()
        since = passed_load_start or last_pass
        loads_query = loads_query.where(Cycle.started_at > since)
    else:
        since = None
    loads = list(session.execute(loads_query.order_by(Cycle.started_at)).scalars())
    number = f"RC-{machine.code}-{clock.now.astimezone(clock.zone):%Y%m%d%H%M%S}"
    recall = Recall(
        number=number,
        machine_id=machine.id,
        trigger_test_id=failed.id,
        since=since,
        reason=f"biological indicator failed on {machine.code}",
        created_by_id=actor.id,
    )
    session.add(recall)
    session.flush()
    packs = (
        list(
            session.execute(
                select(Item)
                .join(CycleItem, CycleItem.item_id == Item.id)
                .where(
                    CycleItem.cycle_id.in_([load.id for load in loads]), Item.kind == ItemKind.pack
                )
                .order_by(Item.barcode)
            ).scalars()
        )
        if loads
        else []
    )
    for load in loads:
        if load.status in (CycleStatus.building, CycleStatus.running, CycleStatus.unloaded):
            load.status = CycleStatus.failed
            load.failure_reason = recall.reason
    if packs:
        _record(session, clock, packs, "recall", actor, details={"recall": number})
        session.execute(
            update(Pack).where(Pack.item_id.in_([p.id for p in packs])).values(recall_id=recall.id)
        )
        _close_cycle_items_for(session, [p.id for p in packs])
    machine.status, machine.requalification_passes = MachineStatus.out_of_service, 0
    machine.status_reason = TestKind.biological_indicator
    sites = {item.current_site_id for item in packs if item.current_site_id}
    for site_id in sites:
        held = sorted(item.barcode for item in packs if item.current_site_id == site_id)
        _notify(
            session,
            site_id,
            "recall",
            [Flag("pack_recalled", {"pack": ", ".join(held), "recall": number})],
            number,
        )
    session.flush()
    return recall


def _tell_where_emergency_packs_are(session: Session, load: Cycle, passed: bool) -> None:
    """A load released before its biological indicator (an emergency release): its result
    goes to every site holding or sent one of its packs, and to the CSSD (WS 310.2)."""
    if load.emergency_release is None:
        return
    rows = session.execute(
        select(Item.barcode, Item.current_site_id, Pack.destination_site_id)
        .join(Pack, Pack.item_id == Item.id)
        .where(Pack.load_id == load.id)
    ).all()
    held: dict[uuid.UUID, list[str]] = {}
    for barcode, current, destination in rows:
        for site_id in {current, destination} - {None}:
            assert site_id is not None
            held.setdefault(site_id, []).append(barcode)
    code = "bi_passed_after_emergency" if passed else "bi_failed_after_emergency"
    for site_id, packs in held.items():
        flag = Flag(code, {"load": load.number, "packs": ", ".join(sorted(packs))})
        _notify(session, site_id, "bi_result", [flag], load.number)


def _close_cycle_items_for(session: Session, item_ids: Sequence[uuid.UUID]) -> None:
    session.execute(
        update(CycleItem)
        .where(CycleItem.item_id.in_(item_ids), CycleItem.active.is_(True))
        .values(active=False)
    )


def _notify(
    session: Session, site_id: uuid.UUID | None, kind: str, flags: Sequence[Flag], reference: str
) -> None:
    if site_id is None:
        return
    session.add(
        Notification(
            site_id=site_id,
            kind=kind,
            message_zh=render_all(flags, "zh"),
            message_en=render_all(flags, "en"),
            reference=reference,
        )
    )


def recall_by_number(session: Session, number: str) -> Recall:
    recall = session.execute(select(Recall).where(Recall.number == number)).scalar_one_or_none()
    if recall is None:
        raise NotFound(f"no recall {number[:40]}")
    return recall


# --- dispatch, delivery, use --------------------------------------------------------------


def _pack_facts(session: Session, item: Item, pack: Pack) -> rules.PackFacts:
    destination = session.get(Site, pack.destination_site_id) if pack.destination_site_id else None
    recall = session.get(Recall, pack.recall_id) if pack.recall_id else None
    return rules.PackFacts(
        item.barcode,
        item.state,
        pack.expires_on,
        recall.number if recall else None,
        destination.code if destination else None,
    )


def suggest_dispatch(
    session: Session, destination: Site | None, template: str | None, limit: int, clock: Clock
) -> list[tuple[Item, Pack]]:
    """Packs in sterile storage, earliest expiry first, skipping expired or recalled ones."""
    query = (
        select(Item, Pack)
        .join(Pack, Pack.item_id == Item.id)
        .where(
            Item.state == "sterile_stored", Pack.recall_id.is_(None), Pack.expires_on >= clock.today
        )
        .order_by(Pack.expires_on, Item.barcode)
        .limit(limit)
    )
    if destination is not None:
        query = query.where(Pack.destination_site_id == destination.id)
    if template is not None:
        query = query.where(Pack.template_id == template_by_code(session, template).id)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def store_packs(session: Session, actor: Person, codes: Sequence[str], clock: Clock) -> list[Item]:
    items = []
    for code in dict.fromkeys(codes):
        item, _ = pack_by_barcode(session, code)
        _refuse_state(item, "released")
        items.append(item)
    _record(session, clock, items, "store", actor, site=actor.home_site_id)
    return items


def dispatch(session: Session, actor: Person, data: DispatchIn, clock: Clock) -> list[Item]:
    """Hand released, in-date packs to a courier for a clinic (WS 310.2 §5.10)."""
    courier = person_by_badge(session, data.courier)
    destination = site_by_ref(session, data.destination)
    items, flags = [], []
    for code in dict.fromkeys(data.packs):
        item, pack = pack_by_barcode(session, code)
        flags += rules.dispatch_flags(_pack_facts(session, item, pack), clock.today)
        items.append((item, pack))
    refuse_if(flags)
    stored = [item for item, _ in items if item.state == "released"]
    if stored:
        _record(session, clock, stored, "store", actor, site=actor.home_site_id)
    for _, pack in items:
        pack.destination_site_id = destination.id
    _record(
        session,
        clock,
        [item for item, _ in items],
        "dispatch",
        actor,
        site=actor.home_site_id,
        counterparty=courier,
        details={"destination": destination.code},
    )
    return [item for item, _ in items]


def deliver(session: Session, receiver: Person, data: DeliveryIn, clock: Clock) -> list[Item]:
    """A clinic confirms receipt of sterile packs from a courier."""
    courier = person_by_badge(session, data.courier)
    site = session.get(Site, receiver.home_site_id) if receiver.home_site_id else None
    items, flags = [], []
    for code in dict.fromkeys(data.packs):
        item, pack = pack_by_barcode(session, code)
        facts = _pack_facts(session, item, pack)
        flags += rules.delivery_flags(facts, site.code if site else None)
        items.append(item)
    refuse_if(flags)
    for item in items:
        _refuse_state(item, "in_transit_clean")
    _record(
        session, clock, items, "deliver", courier, site=receiver.home_site_id, counterparty=receiver
    )
    return items


def use_pack(session: Session, user: Person, code: str, patient_ref: str, clock: Clock) -> Pack:
    item, pack = pack_by_barcode(session, code)
    refuse_if(rules.use_flags(_pack_facts(session, item, pack), clock.today))
    pack.patient_ref, pack.used_at = patient_ref, clock.now
    _record(
        session,
        clock,
        [item],
        "use",
        user,
        site=user.home_site_id,
        details={"patient_ref": patient_ref},
    )
    tray = session.get(Item, pack.set_item_id)
    if tray is not None and tray.state == "packed":
        _record(
            session,
            clock,
            [tray],
            "use",
            user,
            site=user.home_site_id,
            details={"pack": item.barcode},
        )
    return pack


def reprint_label(session: Session, actor: Person, code: str) -> Pack:
    """Count and audit a label printed again: the same pack and the same label data (load,
    sterilization day and expiry come from the pack record and are never re-entered)."""
    item, pack = pack_by_barcode(session, code)
    pack.label_prints += 1
    load = session.get(Cycle, pack.load_id) if pack.load_id else None
    audit.record(
        session,
        actor,
        "pack.reprint",
        "pack",
        item.barcode,
        {
            "reprint": pack.label_prints,
            "load": load.number if load else None,
            "expires_on": pack.expires_on.isoformat() if pack.expires_on else None,
        },
    )
    return pack


def compromise(session: Session, actor: Person, code: str, reason: str, clock: Clock) -> Item:
    item, _ = pack_by_barcode(session, code)
    _refuse_unless_allowed(item, "compromise")
    _record(
        session,
        clock,
        [item],
        "compromise",
        actor,
        site=actor.home_site_id,
        details={"reason": reason},
    )
    return item


# --- boards -------------------------------------------------------------------------------


def escalate_overdue_sets(session: Session, now: datetime, hours: int) -> None:
    """An alert for each set overdue at a clinic (once per time it went out), to the clinic
    holding it and to every dispatcher reading the alerts."""
    cutoff = now - timedelta(hours=hours)
    for item in session.execute(
        select(Item).where(
            Item.kind == ItemKind.instrument_set,
            Item.state.in_(["in_use", "awaiting_collection"]),
            Item.last_event_at < cutoff,
        )
    ).scalars():
        site = session.get(Site, item.current_site_id) if item.current_site_id else None
        where = site.code if site else "?"
        flag = Flag("set_overdue", {"set": item.barcode, "hours": str(hours), "site": where})
        raise_alert(
            session,
            f"overdue:{item.barcode}:{item.last_position}",
            AlertKind.set_overdue,
            item,
            item.current_site_id,
            [flag],
        )


def overdue_sets(session: Session, hours: int, clock: Clock) -> list[Item]:
    """Sets in use or awaiting collection at a clinic for longer than ``hours``."""
    cutoff = clock.now - timedelta(hours=hours)
    return list(
        session.execute(
            select(Item)
            .where(
                Item.kind == ItemKind.instrument_set,
                Item.state.in_(["in_use", "awaiting_collection"]),
                Item.last_event_at < cutoff,
            )
            .order_by(Item.last_event_at)
        ).scalars()
    )


# Packs still in the loop; used and retired ones are history (years of them).
LIVE_PACK_STATES = tuple(
    state for state in LIFECYCLES[ItemKind.pack].states if state not in {"used", "retired"}
)
IN_STOCK = ("released", "sterile_stored", "received_at_site")


def packs_by_state(session: Session) -> dict[str, int]:
    """How many live packs are in each state (the (kind, state) index answers it)."""
    rows = session.execute(
        select(Item.state, func.count())
        .where(Item.kind == ItemKind.pack, Item.state.in_(LIVE_PACK_STATES))
        .group_by(Item.state)
    ).all()
    return {state: count for state, count in rows}


def expiring_soon(session: Session, days: int, clock: Clock) -> list[str]:
    """Packs in stock expiring within ``days`` (or already expired), earliest first."""
    horizon = clock.today + timedelta(days=days)
    # The packs in stock first, by the (kind, state) index: a few thousand among the
    # millions of used ones an expiry-date scan would have to step over.
    stock = (
        select(Item.id, Item.barcode)
        .where(Item.kind == ItemKind.pack, Item.state.in_(IN_STOCK))
        .cte("stock")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return list(
        session.execute(
            select(stock.c.barcode)
            .join(Pack, Pack.item_id == stock.c.id)
            .where(Pack.expires_on <= horizon)
            .order_by(Pack.expires_on, stock.c.barcode)
            .limit(200)
        ).scalars()
    )


def board(session: Session, clock: Clock, expiry_days: int, overdue_hours: int) -> BoardRead:
    awaiting = session.execute(
        select(Cycle.number, Cycle.implant, Cycle.bi_passed)
        .where(Cycle.kind == CycleKind.sterilization, Cycle.status == CycleStatus.unloaded)
        .order_by(Cycle.number)
    ).all()
    on_hold = session.execute(
        select(Item.barcode)
        .where(Item.kind == ItemKind.instrument_set, Item.state == "on_hold")
        .order_by(Item.barcode)
    ).scalars()
    return BoardRead(
        packs_by_state=packs_by_state(session),
        loads_awaiting_release=[n for n, implant, bi in awaiting if not implant or bi],
        loads_awaiting_bi=[n for n, implant, bi in awaiting if implant and bi is None],
        expiring_soon=expiring_soon(session, expiry_days, clock),
        sets_on_hold=list(on_hold),
        overdue_sets=[item.barcode for item in overdue_sets(session, overdue_hours, clock)],
    )
