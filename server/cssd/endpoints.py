"""/api/v1/cssd: sets, receipt, washing, packing, sterilizer loads, release, recall, dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from server.cssd import reads, service
from server.cssd.rules import CycleKind
from server.cssd.schemas import (
    BoardRead,
    CompromiseIn,
    CycleRead,
    DeliveryIn,
    DispatchIn,
    Gs1LinkIn,
    HoldRelease,
    InspectionIn,
    LoadAdd,
    LoadCreate,
    LoadFinish,
    LoanerTest,
    MachineCreate,
    MachineRead,
    PackIn,
    PackRead,
    RecallRead,
    ReceiptIn,
    ReleaseIn,
    SetCreate,
    SetRead,
    StorageIn,
    TemplateCreate,
    TemplateRead,
    TestIn,
    TestRead,
    UnloadIn,
    UseIn,
    WashFinish,
    WashIn,
)
from server.cssd.service import Clock
from server.deps import (
    NowDep,
    Reader,
    SessionDep,
    SettingsDep,
    require_person,
    require_person_or_station,
)
from server.enums import Role
from server.errors import error_responses
from server.lookup import item_by_barcode, site_by_ref
from server.models import Cycle, Machine, Person, SetTemplate

router = APIRouter(
    prefix="/cssd", tags=["sterile supply"], responses=error_responses(400, 401, 403, 404, 409)
)
# CSSD staff logged in, or a CSSD station's device acting for the badge scanned at it.
CssdStaff = Annotated[Person, Depends(require_person_or_station(Role.cssd_staff))]
ClinicStaff = Annotated[Person, Depends(require_person(Role.clinic_staff))]


def get_clock(settings: SettingsDep, now: NowDep) -> Clock:
    return Clock(now, settings.zone)


ClockDep = Annotated[Clock, Depends(get_clock)]


def _pack(session: SessionDep, code: str) -> PackRead:
    item, pack = service.pack_by_barcode(session, code)
    return reads.pack_read(session, item, pack)


def _set(session: SessionDep, code: str) -> SetRead:
    item = item_by_barcode(session, code)
    return reads.set_read(session, item, service.set_asset(session, item))


# --- templates and sets


@router.get("/templates", response_model=list[TemplateRead])
def list_templates(session: SessionDep, _: Reader) -> Sequence[SetTemplate]:
    return session.query(SetTemplate).order_by(SetTemplate.code).all()


@router.post("/templates", response_model=TemplateRead, status_code=status.HTTP_201_CREATED)
def create_template(session: SessionDep, staff: CssdStaff, data: TemplateCreate) -> SetTemplate:
    return service.create_template(session, staff, data)


@router.post("/sets", response_model=SetRead, status_code=status.HTTP_201_CREATED)
def register_set(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, data: SetCreate
) -> SetRead:
    item = service.register_set(session, staff, data, clock)
    return reads.set_read(session, item, service.set_asset(session, item))


@router.get("/sets/{barcode}", response_model=SetRead)
def get_set(session: SessionDep, _: Reader, barcode: str) -> SetRead:
    return _set(session, barcode)


@router.post("/sets/{barcode}/gs1", response_model=SetRead)
def link_gs1(session: SessionDep, staff: CssdStaff, barcode: str, data: Gs1LinkIn) -> SetRead:
    """Link a manufacturer's GS1 code ((01)+(21) or (8004)) to the set."""
    service.link_gs1(session, staff, item_by_barcode(session, barcode), data.code)
    return _set(session, barcode)


@router.get("/gs1", response_model=SetRead)
def find_by_gs1(
    session: SessionDep, _: Reader, code: Annotated[str, Query(max_length=200)]
) -> SetRead:
    """The set a scanned manufacturer's code is linked to."""
    item = service.set_by_gs1(session, code)
    return reads.set_read(session, item, service.set_asset(session, item))


@router.post("/sets/{barcode}/loaner-test", response_model=SetRead)
def loaner_test(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, barcode: str, data: LoanerTest
) -> SetRead:
    service.record_loaner_test(
        session, staff, item_by_barcode(session, barcode), data.passed, data.parameters, clock
    )
    return _set(session, barcode)


@router.post("/sets/{barcode}/return-loaner", response_model=SetRead)
def return_loaner(session: SessionDep, staff: CssdStaff, clock: ClockDep, barcode: str) -> SetRead:
    service.return_loaner(session, staff, item_by_barcode(session, barcode), clock)
    return _set(session, barcode)


# --- receipt, washing, inspection, packing


@router.post("/receipts", response_model=SetRead)
def receive_set(session: SessionDep, staff: CssdStaff, clock: ClockDep, data: ReceiptIn) -> SetRead:
    """Receive a used set; a count that differs from the set list puts it on hold."""
    item = service.receive_set(session, staff, data, clock)
    return reads.set_read(session, item, service.set_asset(session, item))


@router.post("/sets/{barcode}/release-hold", response_model=SetRead)
def release_hold(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, barcode: str, data: HoldRelease
) -> SetRead:
    service.release_hold(session, staff, item_by_barcode(session, barcode), data.resolution, clock)
    return _set(session, barcode)


@router.post("/washes", response_model=CycleRead, status_code=status.HTTP_201_CREATED)
def start_wash(session: SessionDep, staff: CssdStaff, clock: ClockDep, data: WashIn) -> CycleRead:
    return reads.cycle_read(session, service.start_wash(session, staff, data, clock))


@router.post("/washes/{number}/finish", response_model=CycleRead)
def finish_wash(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str, data: WashFinish
) -> CycleRead:
    """Record the washer's result; an aborted cycle sends its sets back to be washed again."""
    cycle = service.cycle_by_ref(session, number, CycleKind.wash)
    return reads.cycle_read(session, service.finish_wash(session, staff, cycle, data, clock))


@router.post("/sets/{barcode}/inspection", response_model=SetRead)
def inspect_set(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, barcode: str, data: InspectionIn
) -> SetRead:
    service.inspect_set(session, staff, item_by_barcode(session, barcode), data, clock)
    return _set(session, barcode)


@router.post("/packs", response_model=PackRead, status_code=status.HTTP_201_CREATED)
def pack_set(session: SessionDep, staff: CssdStaff, clock: ClockDep, data: PackIn) -> PackRead:
    """Pack an inspected set: a new pack with its label data; expiry computed by the server."""
    item, pack = service.pack_set(session, staff, data, clock)
    return reads.pack_read(session, item, pack)


@router.get("/packs/{barcode}", response_model=PackRead)
def get_pack(session: SessionDep, _: Reader, barcode: str) -> PackRead:
    return _pack(session, barcode)


# --- sterilizers, tests, loads


@router.get("/machines", response_model=list[MachineRead])
def list_machines(session: SessionDep, _: Reader) -> Sequence[Machine]:
    return session.query(Machine).order_by(Machine.code).all()


@router.post("/machines", response_model=MachineRead, status_code=status.HTTP_201_CREATED)
def create_machine(session: SessionDep, staff: CssdStaff, data: MachineCreate) -> Machine:
    return service.create_machine(session, staff, data)


@router.post("/machines/{code}/tests", response_model=TestRead, status_code=status.HTTP_201_CREATED)
def record_test(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, code: str, data: TestIn
) -> TestRead:
    """A Bowie-Dick or biological indicator result. A failed BI recalls every pack of every
    load on the sterilizer since its last passed BI and takes it out of service."""
    machine = service.machine_by_code(session, code)
    test, recall = service.record_test(session, staff, machine, data, clock)
    return TestRead(
        kind=test.kind,
        passed=test.passed,
        performed_at=test.performed_at,
        machine=MachineRead.model_validate(machine),
        recall=recall.number if recall else None,
    )


@router.post("/loads", response_model=CycleRead, status_code=status.HTTP_201_CREATED)
def create_load(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, data: LoadCreate
) -> CycleRead:
    load = service.create_load(
        session, staff, service.machine_by_code(session, data.sterilizer), data.program, clock
    )
    return reads.cycle_read(session, load)


def _load(session: SessionDep, number: str) -> Cycle:
    return service.cycle_by_ref(session, number, CycleKind.sterilization)


@router.get("/loads/{number}", response_model=CycleRead)
def get_load(session: SessionDep, _: Reader, number: str) -> CycleRead:
    return reads.cycle_read(session, _load(session, number))


@router.post("/loads/{number}/packs", response_model=CycleRead)
def add_to_load(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str, data: LoadAdd
) -> CycleRead:
    load = _load(session, number)
    service.add_to_load(session, staff, load, data.pack, clock)
    return reads.cycle_read(session, load)


@router.post("/loads/{number}/start", response_model=CycleRead)
def start_load(session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str) -> CycleRead:
    """Start the cycle: needs the sterilizer in service and, for pre-vacuum steam, today's
    passed Bowie-Dick test."""
    return reads.cycle_read(
        session, service.start_load(session, staff, _load(session, number), clock)
    )


@router.post("/loads/{number}/finish", response_model=CycleRead)
def finish_load(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str, data: LoadFinish
) -> CycleRead:
    return reads.cycle_read(
        session, service.finish_load(session, staff, _load(session, number), data, clock)
    )


@router.post("/loads/{number}/unload", response_model=CycleRead)
def unload(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str, data: UnloadIn
) -> CycleRead:
    return reads.cycle_read(
        session, service.unload(session, staff, _load(session, number), data, clock)
    )


@router.post("/loads/{number}/release", response_model=CycleRead)
def release_load(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, number: str, data: ReleaseIn
) -> CycleRead:
    """Release by a named reviewer. Implant loads wait for the BI unless an emergency release
    (Type 5 indicator, approver, reason) is recorded."""
    load = service.release_load(session, staff, _load(session, number), data.emergency, clock)
    return reads.cycle_read(session, load)


@router.get("/recalls/{number}", response_model=RecallRead)
def recall_report(session: SessionDep, _: Reader, number: str) -> RecallRead:
    """Each recalled pack: its state, where it is, who holds it and, if used, the patient."""
    return reads.recall_read(session, service.recall_by_number(session, number))


# --- dispatch and use


@router.get("/dispatch/suggestions", response_model=list[PackRead])
def suggest_dispatch(
    session: SessionDep,
    _: Reader,
    clock: ClockDep,
    destination: Annotated[str | None, Query(max_length=64)] = None,
    template: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[PackRead]:
    """Packs to send, earliest expiry first."""
    site = site_by_ref(session, destination) if destination else None
    return [
        reads.pack_read(session, item, pack)
        for item, pack in service.suggest_dispatch(session, site, template, limit, clock)
    ]


@router.post("/storage", response_model=list[PackRead])
def store_packs(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, data: StorageIn
) -> list[PackRead]:
    items = service.store_packs(session, staff, data.packs, clock)
    return [_pack(session, item.barcode) for item in items]


@router.post("/dispatches", response_model=list[PackRead])
def dispatch(
    session: SessionDep, staff: CssdStaff, clock: ClockDep, data: DispatchIn
) -> list[PackRead]:
    """Hand packs to a courier; refuses packs not released, expired, recalled or compromised."""
    items = service.dispatch(session, staff, data, clock)
    return [_pack(session, item.barcode) for item in items]


@router.post("/deliveries", response_model=list[PackRead])
def deliver(
    session: SessionDep, staff: ClinicStaff, clock: ClockDep, data: DeliveryIn
) -> list[PackRead]:
    """The clinic confirms receipt of sterile packs from the courier."""
    items = service.deliver(session, staff, data, clock)
    return [_pack(session, item.barcode) for item in items]


@router.post("/packs/{barcode}/use", response_model=PackRead)
def use_pack(
    session: SessionDep, staff: ClinicStaff, clock: ClockDep, barcode: str, data: UseIn
) -> PackRead:
    """Open a pack for a patient; refused if recalled, expired or compromised."""
    service.use_pack(session, staff, barcode, data.patient_ref, clock)
    return _pack(session, barcode)


@router.post("/packs/{barcode}/reprints", response_model=PackRead)
def reprint_label(session: SessionDep, staff: CssdStaff, barcode: str) -> PackRead:
    """A pack's label printed again: counted and audited; the label data are the pack
    record's, unchanged (print them from this answer)."""
    service.reprint_label(session, staff, barcode)
    return _pack(session, barcode)


@router.post("/packs/{barcode}/compromised", response_model=PackRead)
def compromise(
    session: SessionDep,
    person: Annotated[Person, Depends(require_person(Role.cssd_staff, Role.clinic_staff))],
    clock: ClockDep,
    barcode: str,
    data: CompromiseIn,
) -> PackRead:
    """Dropped, torn, wet or opened: the pack goes back for reprocessing."""
    service.compromise(session, person, barcode, data.reason, clock)
    return _pack(session, barcode)


@router.get("/board", response_model=BoardRead)
def board(session: SessionDep, _: Reader, clock: ClockDep, settings: SettingsDep) -> BoardRead:
    """Packs by state, loads waiting for release or a BI, expiring packs, held and overdue sets."""
    return service.board(session, clock, settings.expiry_warning_days, settings.overdue_set_hours)
