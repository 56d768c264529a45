"""The laboratory receiving board: boxes expected by clinic, received, late, rejected;
open discrepancies with their resolution; alerts, live from the alert stream."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import or_, select

from server.auth.service import Principal, authenticate
from server.custody.schemas import EventIn
from server.custody.service import ingest
from server.db import session_scope
from server.deps import NowDep, SessionDep, SettingsDep
from server.enums import Role
from server.errors import BadRequest, NotAuthenticated
from server.lookup import item_by_barcode
from server.models import Alert, Box, Item, Person, Site, SpecimenType, Trip
from server.specimens import reads, service
from server.specimens.endpoints import alert_stream_response
from server.specimens.rules import DiscrepancyState
from server.specimens.schemas import Resolution
from web.i18n import state_label, t
from web.render import chosen_day, language, page_router, render
from web.session import SESSION_COOKIE, CsrfChecked, LoginRequired, web_person

router = page_router()
# The API's rule for discrepancies and alerts: dispatchers and laboratory receivers.
Resolver = Annotated[Person, Depends(web_person(Role.lab_receiver, Role.dispatcher))]
# Who may scan a box in at the laboratory (the lifecycle's rule for receive/accept/reject).
LabStaff = Annotated[Person, Depends(web_person(Role.lab_receiver))]
Day = Annotated[str | None, Query(max_length=10)]


@dataclass
class ClinicRow:
    code: str
    name: str
    expected: int = 0
    received: int = 0
    on_way: int = 0
    late: int = 0
    rejected: int = 0


@dataclass
class BoxRow:
    barcode: str
    clinic: str
    state: str
    specimen: str
    deadline: datetime | None
    received_at: datetime | None
    late: bool
    rejected: bool
    trip: str | None


@dataclass
class LabDay:
    clinics: list[ClinicRow] = field(default_factory=list)
    boxes: list[BoxRow] = field(default_factory=list)


def _day_bounds(request: Request, day: date) -> tuple[datetime, datetime]:
    zone = request.app.state.settings.zone
    start = datetime.combine(day, time(0), zone)
    return start, start + timedelta(days=1)


def lab_day(request: Request, session: SessionDep, day: date, now: datetime) -> LabDay:
    """The boxes of ``day``: on that day's trips, or sealed that day."""
    start, end = _day_bounds(request, day)
    trips = select(Trip.id).where(Trip.day == day)
    rows = session.execute(
        select(Box, Item.barcode, Item.state, Site.code, Site.name_zh, Site.name_en,
               SpecimenType.code, Trip.barcode)
        .join(Item, Item.id == Box.item_id)
        .outerjoin(Site, Site.id == Box.origin_site_id)
        .outerjoin(SpecimenType, SpecimenType.id == Box.specimen_type_id)
        .outerjoin(Trip, Trip.id == Box.trip_id)
        .where(or_(Box.trip_id.in_(trips), Box.sealed_at.between(start, end)))
        .order_by(Site.code, Item.barcode)
    ).all()  # fmt: skip
    zh = language(request) == "zh"
    clinics: dict[str, ClinicRow] = {}
    result = LabDay()
    for box, barcode, state, code, name_zh, name_en, specimen, trip in rows:
        clinic = clinics.setdefault(
            code or "—", ClinicRow(code or "—", (name_zh if zh else name_en) or "")
        )
        received = box.received_at is not None
        rejected = state == "rejected" or box.outcome == "rejected"
        late = box.deadline is not None and ((box.received_at or now) > box.deadline)
        clinic.expected += 1
        clinic.received += received
        clinic.on_way += not received and state in {"sealed", "in_transit", "on_hold"}
        clinic.late += late
        clinic.rejected += rejected
        result.boxes.append(
            BoxRow(barcode, code or "—", state, specimen or "—", box.deadline, box.received_at,
                   late, rejected, trip)
        )  # fmt: skip
    result.clinics = list(clinics.values())
    return result


def latest_trip_day(session: SessionDep, before: date) -> date | None:
    """The last day on or before ``before`` with a trip, to offer when a day is empty."""
    return session.execute(
        select(Trip.day).where(Trip.day <= before).order_by(Trip.day.desc()).limit(1)
    ).scalar_one_or_none()


def open_discrepancies(session: SessionDep) -> list[Any]:
    return reads.discrepancies(session, state=DiscrepancyState.open) + reads.discrepancies(
        session, state=DiscrepancyState.explained
    )


def open_alerts(session: SessionDep) -> list[Any]:
    alerts = session.execute(
        select(Alert).where(Alert.closed_at.is_(None)).order_by(Alert.id.desc()).limit(100)
    ).scalars()
    return [reads.alert_read(session, alert) for alert in alerts]


def last_alert_id(session: SessionDep) -> int:
    return session.execute(select(Alert.id).order_by(Alert.id.desc()).limit(1)).scalar() or 0


def _context(request: Request, session: SessionDep, day: date, now: datetime) -> dict[str, Any]:
    lang = language(request)
    data = lab_day(request, session, day, now)
    return {
        "day": day,
        "data": data,
        "latest_day": None if data.boxes else latest_trip_day(session, day),
        "discrepancies": open_discrepancies(session),
        "alerts": open_alerts(session),
        "box_state": lambda state: state_label(lang, "specimen_box", state),
        "alerts_after": last_alert_id(session),
    }


@router.get("/lab", response_class=HTMLResponse)
def lab_page(
    request: Request, session: SessionDep, now: NowDep, person: Resolver, day: Day = None
) -> Response:
    context = _context(request, session, chosen_day(request, day), now)
    return render(request, "ui/lab.html", context, person=person)


@router.get("/lab/board", response_class=HTMLResponse)
def lab_board(
    request: Request, session: SessionDep, now: NowDep, person: Resolver, day: Day = None
) -> Response:
    """The board alone, for its refresh (every few seconds and on each new alert)."""
    context = _context(request, session, chosen_day(request, day), now)
    return render(request, "ui/_lab_board.html", {**context, "messages": []}, person=person)


# --- receiving by scan ---------------------------------------------------------------


def _record(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: datetime,
    person: Person,
    event: EventIn,
) -> dict[str, Any]:
    """One scan through the custody ingest, exactly as ``POST /api/v1/events`` stores it."""
    lang = language(request)
    response, _rejected = ingest(session, Principal(person=person), [event], settings, now)
    result = response.results[0]
    reason = result.reason_zh if lang == "zh" else result.reason
    tone = {"accepted": "ok", "duplicate": "ok", "flagged": "warn"}.get(result.status, "bad")
    answer: dict[str, Any] = {"tone": tone, "status": result.status, "reason": reason,
                              "code": event.item, "event": event.type, "box": None}  # fmt: skip
    if result.status != "rejected":
        item = item_by_barcode(session, event.item)
        box = session.get(Box, item.id)
        answer["box"] = {
            "barcode": item.barcode,
            "state": item.state,
            "state_label": state_label(lang, "specimen_box", item.state),
            "deadline": box.deadline if box else None,
            "late": bool(box and box.deadline and (box.received_at or now) > box.deadline),
            "count": box.count if box else None,
        }
    return answer


def _answer(request: Request, answer: dict[str, Any], person: Person) -> Response:
    response = render(request, "ui/_receive_answer.html", answer, person=person)
    response.headers["HX-Trigger"] = "handoff:received"  # the board counts again
    return response


def _number(text: str, name: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"{name}: {text[:20]!r} is not a number") from None


@router.post("/lab/receive", response_class=HTMLResponse)
def receive(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    person: LabStaff,
    _: CsrfChecked,
    code: Annotated[str, Form(max_length=64)],
    courier: Annotated[str, Form(max_length=64)] = "",
    seal_intact: Annotated[bool, Form()] = False,
    count: Annotated[str, Form(max_length=10)] = "",
    temperature_c: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A box scanned at the laboratory: seal, count and temperature checked by the ingest."""
    details: dict[str, Any] = {"seal_intact": seal_intact}
    counted = _number(count, "count")
    if counted is not None:
        details["count"] = int(counted)
    temperature = _number(temperature_c, "temperature_c")
    if temperature is not None:
        details["temperature_c"] = temperature
    event = EventIn(
        event_id=uuid.uuid4(),
        type="receive",
        item=code.strip(),
        actor=person.badge,
        counterparty=courier.strip() or None,
        occurred_at=now,
        details=details,
    )
    return _answer(request, _record(request, session, settings, now, person, event), person)


@router.post("/lab/boxes/{barcode}/{outcome}", response_class=HTMLResponse)
def accept_or_reject(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    person: LabStaff,
    _: CsrfChecked,
    barcode: str,
    outcome: Literal["accept", "reject"],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Accept a received box, or reject it saying why (an ``accept``/``reject`` scan)."""
    if outcome == "reject" and not reason.strip():
        raise BadRequest(t(language(request), "lab.reject_reason"))
    details = {"reason": reason.strip()} if reason.strip() else {}
    event = EventIn(
        event_id=uuid.uuid4(),
        type=outcome,
        item=barcode,
        actor=person.badge,
        occurred_at=now,
        details=details,
    )
    return _answer(request, _record(request, session, settings, now, person, event), person)


@router.post("/lab/discrepancies/{discrepancy_id}", response_class=HTMLResponse)
def resolve(
    request: Request,
    session: SessionDep,
    now: NowDep,
    person: Resolver,
    _: CsrfChecked,
    discrepancy_id: uuid.UUID,
    state: Annotated[DiscrepancyState, Form()],
    note: Annotated[str, Form(max_length=200)],
    day: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """Explain or resolve a discrepancy with ``resolve_discrepancy``, as the API does."""
    data = Resolution(state=state, note=note)
    service.resolve_discrepancy(session, person, discrepancy_id, data.state, data.note, now)
    context = _context(request, session, chosen_day(request, day), now)
    messages = [("ok", t(language(request), "lab.resolved"))]
    return render(request, "ui/_lab_board.html", {**context, "messages": messages}, person=person)


@router.post("/lab/alerts/{alert_id}/close", response_class=HTMLResponse)
def close(
    request: Request,
    session: SessionDep,
    now: NowDep,
    person: Resolver,
    _: CsrfChecked,
    alert_id: int,
    day: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """Close an alert with the service the API uses."""
    service.close_alert(session, alert_id, now)
    context = _context(request, session, chosen_day(request, day), now)
    messages = [("ok", t(language(request), "lab.alert_closed"))]
    return render(request, "ui/_lab_board.html", {**context, "messages": messages}, person=person)


def _cookie_principal(request: Request, now: NowDep) -> Principal:
    """The browser's person, checked in a session of its own that is closed at once."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(request.url.path)
    try:
        with session_scope(request.app.state.sessionmaker) as session:
            return authenticate(session, token, now)
    except NotAuthenticated:
        raise LoginRequired(request.url.path) from None


@router.get("/ui/alerts/stream")
async def alert_stream(
    request: Request,
    principal: Annotated[Principal, Depends(_cookie_principal)],
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """The API's alert stream (``/api/v1/alerts/stream``) for a browser's cookie session."""
    return alert_stream_response(
        request, last_event_id if last_event_id is not None else after, seconds=600
    )
