"""The CSSD board: packs by state, loads to unload, release or wait for a BI, recalls,
expiring packs and overdue sets, with the same service calls as ``/api/v1/cssd``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from server.cssd import reads, service
from server.cssd.rules import CycleKind, CycleStatus, TestKind
from server.cssd.schemas import CompromiseIn, EmergencyRelease, TestIn, UnloadIn
from server.cssd.service import Clock
from server.deps import NowDep, SessionDep, SettingsDep
from server.enums import Role
from server.models import Cycle, Machine, Pack, Person, Recall
from web.i18n import cycle_status_label, machine_status_label, state_label, t
from web.render import language, page_router, render
from web.session import CsrfChecked, web_person

router = page_router()
CssdViewer = Annotated[Person, Depends(web_person(Role.cssd_staff))]
# The API's rule for every sterile-supply action: CSSD staff (and administrators).
CssdStaff = Annotated[Person, Depends(web_person(Role.cssd_staff))]


def _clock(settings: SettingsDep, now: NowDep) -> Clock:
    return Clock(now, settings.zone)


ClockDep = Annotated[Clock, Depends(_clock)]


def board_context(
    request: Request, session: SessionDep, settings: SettingsDep, clock: Clock
) -> dict[str, Any]:
    """Everything the board shows, read through the CSSD service and read models."""
    board = service.board(session, clock, settings.expiry_warning_days, settings.overdue_set_hours)
    finished = session.execute(
        select(Cycle)
        .where(
            Cycle.kind == CycleKind.sterilization,
            Cycle.status == CycleStatus.running,
            Cycle.ended_at.is_not(None),
        )
        .order_by(Cycle.number)
    ).scalars()
    lang = language(request)

    def load(number: str) -> Any:
        return reads.cycle_read(
            session, service.cycle_by_ref(session, number, CycleKind.sterilization)
        )

    recalls = session.execute(
        select(Recall, Machine.code, func.count(Pack.item_id))
        .join(Machine, Machine.id == Recall.machine_id)
        .outerjoin(Pack, Pack.recall_id == Recall.id)
        .group_by(Recall.id, Machine.code)
        .order_by(Recall.created_at.desc())
        .limit(10)
    ).all()
    expiring = []
    for code in board.expiring_soon[:30]:
        item, pack = service.pack_by_barcode(session, code)
        expiring.append(reads.pack_read(session, item, pack))
    return {
        "board": board,
        "to_quarantine": [reads.cycle_read(session, cycle) for cycle in finished],
        "awaiting_release": [load(n) for n in board.loads_awaiting_release],
        "awaiting_bi": [load(n) for n in board.loads_awaiting_bi],
        "recalls": recalls,
        "expiring": expiring,
        "machines": session.execute(select(Machine).order_by(Machine.code)).scalars().all(),
        "expiry_days": settings.expiry_warning_days,
        "pack_state": lambda state: state_label(lang, "pack", state),
        "cycle_status": lambda status: cycle_status_label(lang, status),
        "machine_status": lambda status: machine_status_label(lang, status),
    }


def _board(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: Clock,
    person: Person,
    messages: list[tuple[str, str]] | None = None,
) -> Response:
    context = board_context(request, session, settings, clock)
    return render(
        request, "ui/_cssd_board.html", {**context, "messages": messages or []}, person=person
    )


@router.get("/cssd", response_class=HTMLResponse)
def cssd_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdViewer,
) -> Response:
    context = board_context(request, session, settings, clock)
    return render(request, "ui/cssd.html", {**context, "messages": []}, person=person)


@router.get("/cssd/board", response_class=HTMLResponse)
def cssd_board(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdViewer,
) -> Response:
    """The board alone, for its periodic refresh."""
    return _board(request, session, settings, clock, person)


def _sterilization_load(session: SessionDep, number: str) -> Cycle:
    return service.cycle_by_ref(session, number, CycleKind.sterilization)


@router.post("/cssd/loads/{number}/release", response_class=HTMLResponse)
def release(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdStaff,
    _: CsrfChecked,
    number: str,
) -> Response:
    """Release a load with the logged-in person as its reviewer (``release_load``)."""
    load = service.release_load(session, person, _sterilization_load(session, number), None, clock)
    done = t(language(request), "cssd.released", load=load.number)
    return _board(request, session, settings, clock, person, [("ok", done)])


@router.post("/cssd/loads/{number}/emergency-release", response_class=HTMLResponse)
def emergency_release(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdStaff,
    _: CsrfChecked,
    number: str,
    approver: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=200)],
    type5_indicator_passed: Annotated[bool, Form()] = False,
) -> Response:
    """An implant load before its BI: Type 5 indicator, an approver and a reason
    (``release_load`` with ``EmergencyRelease``, which refuses without the indicator)."""
    emergency = EmergencyRelease(
        type5_indicator_passed=type5_indicator_passed, approver=approver.strip(), reason=reason
    )
    load = _sterilization_load(session, number)
    service.release_load(session, person, load, emergency, clock)
    done = t(language(request), "cssd.released", load=load.number)
    return _board(request, session, settings, clock, person, [("ok", done)])


@router.post("/cssd/loads/{number}/unload", response_class=HTMLResponse)
def unload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdStaff,
    _: CsrfChecked,
    number: str,
    cooling_minutes: Annotated[int, Form(ge=0, le=24 * 60)],
    chemical_indicator_passed: Annotated[bool, Form()] = False,
    wet_packs: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Unload a finished load into quarantine (or fail it on its indicator), via ``unload``."""
    data = UnloadIn(
        cooling_minutes=cooling_minutes,
        chemical_indicator_passed=chemical_indicator_passed,
        wet_packs=[
            code.strip() for code in wet_packs.replace("，", ",").split(",") if code.strip()
        ],
    )
    load = service.unload(session, person, _sterilization_load(session, number), data, clock)
    lang = language(request)
    if load.status == CycleStatus.failed:
        message = ("bad", f"{load.number}: {cycle_status_label(lang, load.status)}")
    else:
        message = ("ok", t(lang, "cssd.quarantined", load=load.number))
    return _board(request, session, settings, clock, person, [message])


@router.post("/cssd/loads/{number}/bi", response_class=HTMLResponse)
def biological_indicator(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdStaff,
    _: CsrfChecked,
    number: str,
    passed: Annotated[bool, Form()],
) -> Response:
    """Record the load's BI (``record_test``); a failure recalls since the last pass."""
    load = _sterilization_load(session, number)
    machine = session.get(Machine, load.machine_id)
    assert machine is not None
    data = TestIn(kind=TestKind.biological_indicator, passed=passed, load=load.number)
    _test, recall = service.record_test(session, person, machine, data, clock)
    lang = language(request)
    message = (
        ("bad", t(lang, "cssd.bi_recall", recall=recall.number))
        if recall
        else ("ok", t(lang, "cssd.bi_recorded", load=load.number))
    )
    return _board(request, session, settings, clock, person, [message])


@router.post("/cssd/compromise", response_class=HTMLResponse)
def compromise(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    person: CssdStaff,
    _: CsrfChecked,
    pack: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=200)],
) -> Response:
    """Take a pack out of circulation (``compromise``): it goes back for reprocessing."""
    data = CompromiseIn(reason=reason)
    item = service.compromise(session, person, pack.strip(), data.reason, clock)
    done = t(language(request), "cssd.compromised", pack=item.barcode)
    return _board(request, session, settings, clock, person, [("ok", done)])


@router.get("/cssd/recalls/{number}", response_class=HTMLResponse)
def recall_report(
    request: Request, session: SessionDep, person: CssdViewer, number: str
) -> Response:
    """The recall report: each pack, its state, where it is, who holds it, the patient."""
    report = reads.recall_read(session, service.recall_by_number(session, number))
    lang = language(request)
    context = {"report": report, "pack_state": lambda state: state_label(lang, "pack", state)}
    return render(request, "ui/recall.html", context, person=person)
