"""/api/v1 specimen transport: specimen types, boxes, trips, discrepancies, alerts, FHIR."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from server.deps import NowDep, Reader, SessionDep, SettingsDep, StreamReader, require_person
from server.enums import Role
from server.errors import NotFound, error_responses
from server.fields import BarcodeText, Code, Name, ShortText
from server.lookup import item_by_barcode
from server.models import (
    Alert,
    Box,
    Discrepancy,
    HandoffLeg,
    Item,
    ManifestLine,
    Person,
    Site,
    SpecimenType,
    TripStop,
)
from server.specimens import fhir, service
from server.specimens.rules import AlertKind, DiscrepancyKind, DiscrepancyState, TemperatureClass

router = APIRouter(tags=["specimens"], responses=error_responses(400, 401, 403, 404, 409))
LabStaff = Annotated[Person, Depends(require_person(Role.lab_receiver))]
Dispatcher = Annotated[Person, Depends(require_person(Role.dispatcher))]
Resolver = Annotated[Person, Depends(require_person(Role.dispatcher, Role.lab_receiver))]


class SpecimenTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    time_limit_minutes: int
    temperature_class: TemperatureClass
    destination_kind: str


class SpecimenTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name_zh: Name
    name_en: Name
    time_limit_minutes: int = Field(ge=1, le=30 * 24 * 60)
    temperature_class: TemperatureClass
    destination_kind: str = Field("laboratory", pattern="^(laboratory|pathology)$")


class SpecimenTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: Name | None = None
    name_en: Name | None = None
    time_limit_minutes: int | None = Field(None, ge=1, le=30 * 24 * 60)
    temperature_class: TemperatureClass | None = None


class BoxRead(BaseModel):
    barcode: str
    state: str
    specimen_type: str | None
    origin: str | None
    destination: str | None
    count: int | None
    tubes: list[str]
    collected_at: datetime | None
    deadline: datetime | None
    seal: str | None
    sealed_at: datetime | None
    received_at: datetime | None
    outcome: str | None
    note: str | None
    trip: str | None


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Code
    planned_arrival: AwareDatetime | None = None
    pickups: list[BarcodeText] = Field(default_factory=list, max_length=500)
    drops: list[BarcodeText] = Field(default_factory=list, max_length=500)


class TripIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    courier: BarcodeText
    day: date
    vehicle: ShortText | None = None
    stops: list[StopIn] = Field(min_length=1, max_length=100)


class LineRead(BaseModel):
    item: str
    action: str
    done: bool


class StopRead(BaseModel):
    seq: int
    site: str
    planned_arrival: datetime | None
    lines: list[LineRead]


class DiscrepancyRead(BaseModel):
    id: uuid.UUID
    trip: str
    item: str
    kind: DiscrepancyKind
    site: str | None
    detected_at: datetime
    state: DiscrepancyState
    resolution: str | None


class TripRead(BaseModel):
    barcode: str
    day: date
    courier: str
    vehicle: str | None
    completed_at: datetime | None
    stops: list[StopRead]
    discrepancies: list[DiscrepancyRead]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: DiscrepancyState
    note: Name


class AlertRead(BaseModel):
    id: int
    kind: AlertKind
    item: str | None
    site: str | None
    raised_at: datetime
    message_zh: str
    message_en: str
    closed_at: datetime | None


class HandoffRead(BaseModel):
    item: str
    giver: str | None
    taker: str | None
    site: str | None
    opened_at: datetime


# --- specimen types


@router.get("/specimen-types", response_model=list[SpecimenTypeRead])
def list_specimen_types(session: SessionDep, _: Reader) -> Sequence[SpecimenType]:
    return session.execute(select(SpecimenType).order_by(SpecimenType.code)).scalars().all()


@router.post("/specimen-types", response_model=SpecimenTypeRead, status_code=201)
def create_specimen_type(session: SessionDep, _: LabStaff, data: SpecimenTypeIn) -> SpecimenType:
    if session.execute(select(SpecimenType.id).where(SpecimenType.code == data.code)).first():
        from server.errors import Conflict

        raise Conflict(f"specimen type {data.code} already exists")
    specimen = SpecimenType(**data.model_dump())
    session.add(specimen)
    session.flush()
    return specimen


@router.patch("/specimen-types/{code}", response_model=SpecimenTypeRead)
def update_specimen_type(
    session: SessionDep, _: LabStaff, code: str, data: SpecimenTypeUpdate
) -> SpecimenType:
    """The laboratory edits its time limits and temperature classes."""
    specimen = session.execute(
        select(SpecimenType).where(SpecimenType.code == code)
    ).scalar_one_or_none()
    if specimen is None:
        raise NotFound(f"no specimen type {code[:40]}")
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(specimen, name, value)
    session.flush()
    return specimen


# --- boxes


def _code(session: SessionDep, site_id: uuid.UUID | None) -> str | None:
    site = session.get(Site, site_id) if site_id else None
    return site.code if site else None


@router.get("/boxes/{barcode}", response_model=BoxRead)
def get_box(session: SessionDep, _: Reader, barcode: str) -> BoxRead:
    item = item_by_barcode(session, barcode)
    box = session.get(Box, item.id)
    if box is None:
        raise NotFound(f"{item.barcode} has not been prepared yet")
    specimen = session.get(SpecimenType, box.specimen_type_id) if box.specimen_type_id else None
    from server.models import Trip

    trip = session.get(Trip, box.trip_id) if box.trip_id else None
    return BoxRead(
        barcode=item.barcode,
        state=item.state,
        specimen_type=specimen.code if specimen else None,
        origin=_code(session, box.origin_site_id),
        destination=_code(session, box.destination_site_id),
        count=box.count,
        tubes=box.tubes,
        collected_at=box.collected_at,
        deadline=box.deadline,
        seal=box.seal,
        sealed_at=box.sealed_at,
        received_at=box.received_at,
        outcome=box.outcome,
        note=box.note,
        trip=trip.barcode if trip else None,
    )


@router.get("/boxes/{barcode}/fhir", response_model=dict[str, Any])
def box_as_fhir(session: SessionDep, _: Reader, barcode: str) -> dict[str, Any]:
    """EXPERIMENTAL: the box as a FHIR R4 Bundle (Specimen + one Provenance per custody event)."""
    return fhir.box_bundle(session, item_by_barcode(session, barcode))


@router.get("/handoffs/open", response_model=list[HandoffRead])
def open_handoffs(session: SessionDep, _: Reader) -> list[HandoffRead]:
    """Handoffs one party recorded and the other has not confirmed."""
    rows = session.execute(
        select(HandoffLeg, Item.barcode)
        .join(Item, Item.id == HandoffLeg.item_id)
        .where(HandoffLeg.confirmed.is_(False))
        .order_by(HandoffLeg.opened_at)
    ).all()

    def badge(person_id: uuid.UUID | None) -> str | None:
        person = session.get(Person, person_id) if person_id else None
        return person.badge if person else None

    return [
        HandoffRead(
            item=code,
            giver=badge(leg.giver_id),
            taker=badge(leg.taker_id),
            site=_code(session, leg.site_id),
            opened_at=leg.opened_at,
        )
        for leg, code in rows
    ]


# --- trips, manifests, discrepancies


def _trip_read(session: SessionDep, trip_ref: str) -> TripRead:
    trip = service.trip_by_ref(session, trip_ref)
    courier = session.get(Person, trip.courier_id)
    stops = (
        session.execute(select(TripStop).where(TripStop.trip_id == trip.id).order_by(TripStop.seq))
        .scalars()
        .all()
    )
    lines = session.execute(
        select(ManifestLine, Item.barcode)
        .join(Item, Item.id == ManifestLine.item_id)
        .where(ManifestLine.trip_id == trip.id)
    ).all()
    return TripRead(
        barcode=trip.barcode,
        day=trip.day,
        courier=courier.badge if courier else "",
        vehicle=trip.vehicle,
        completed_at=trip.completed_at,
        stops=[
            StopRead(
                seq=stop.seq,
                site=_code(session, stop.site_id) or "",
                planned_arrival=stop.planned_arrival,
                lines=[
                    LineRead(item=code, action=line.action, done=line.done_position is not None)
                    for line, code in lines
                    if line.stop_id == stop.id
                ],
            )
            for stop in stops
        ],
        discrepancies=_discrepancies(session, trip.id),
    )


def _discrepancies(
    session: SessionDep, trip_id: uuid.UUID | None = None, state: DiscrepancyState | None = None
) -> list[DiscrepancyRead]:
    from server.models import Trip

    query = (
        select(Discrepancy, Item.barcode, Trip.barcode)
        .join(Item, Item.id == Discrepancy.item_id)
        .join(Trip, Trip.id == Discrepancy.trip_id)
        .order_by(Discrepancy.detected_at)
    )
    if trip_id is not None:
        query = query.where(Discrepancy.trip_id == trip_id)
    if state is not None:
        query = query.where(Discrepancy.state == state)
    return [
        DiscrepancyRead(
            id=d.id,
            trip=trip,
            item=item,
            kind=d.kind,
            site=_code(session, d.site_id),
            detected_at=d.detected_at,
            state=d.state,
            resolution=d.resolution,
        )
        for d, item, trip in session.execute(query).all()
    ]


@router.post("/trips", response_model=TripRead, status_code=status.HTTP_201_CREATED)
def create_trip(session: SessionDep, person: Dispatcher, data: TripIn) -> TripRead:
    """A courier's trip with its planned stops and the manifest of each stop."""
    trip = service.create_trip(
        session,
        person,
        data.courier,
        data.day,
        data.vehicle,
        [stop.model_dump() for stop in data.stops],
    )
    return _trip_read(session, trip.barcode)


@router.get("/trips/{barcode}", response_model=TripRead)
def get_trip(session: SessionDep, _: Reader, barcode: str) -> TripRead:
    return _trip_read(session, barcode)


@router.post("/trips/{barcode}/complete", response_model=TripRead)
def complete_trip(session: SessionDep, _: Resolver, now: NowDep, barcode: str) -> TripRead:
    """The courier is back: pickups never scanned become 'missing' discrepancies."""
    service.complete_trip(session, service.trip_by_ref(session, barcode), now)
    return _trip_read(session, barcode)


@router.get("/discrepancies", response_model=list[DiscrepancyRead])
def list_discrepancies(
    session: SessionDep, _: Reader, state: DiscrepancyState | None = None
) -> list[DiscrepancyRead]:
    return _discrepancies(session, state=state)


@router.post("/discrepancies/{discrepancy_id}", response_model=DiscrepancyRead)
def resolve_discrepancy(
    session: SessionDep, person: Resolver, now: NowDep, discrepancy_id: uuid.UUID, data: Resolution
) -> DiscrepancyRead:
    """Mark a discrepancy explained or resolved, saying how; who and when are kept."""
    done = service.resolve_discrepancy(session, person, discrepancy_id, data.state, data.note, now)
    return next(d for d in _discrepancies(session, done.trip_id) if d.id == done.id)


# --- alerts


def _alert_read(session: SessionDep, alert: Alert) -> AlertRead:
    item = session.get(Item, alert.item_id) if alert.item_id else None
    return AlertRead(
        id=alert.id,
        kind=alert.kind,
        item=item.barcode if item else None,
        site=_code(session, alert.site_id),
        raised_at=alert.raised_at,
        message_zh=alert.message_zh,
        message_en=alert.message_en,
        closed_at=alert.closed_at,
    )


@router.get("/alerts", response_model=list[AlertRead])
def list_alerts(
    session: SessionDep,
    _: Reader,
    now: NowDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0)] = 0,
    include_closed: bool = False,
) -> list[AlertRead]:
    """Open alerts (time limits at risk, temperature, seals, one-sided handoffs, manifests)."""
    service.sweep(session, now, settings.transit_minutes, settings.one_sided_handoff_minutes)
    query = select(Alert).where(Alert.id > after).order_by(Alert.id).limit(500)
    if not include_closed:
        query = query.where(Alert.closed_at.is_(None))
    return [_alert_read(session, alert) for alert in session.execute(query).scalars()]


@router.post("/alerts/{alert_id}/close", response_model=AlertRead)
def close_alert(session: SessionDep, _: Resolver, now: NowDep, alert_id: int) -> AlertRead:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("no such alert")
    alert.closed_at = alert.closed_at or now
    session.flush()
    return _alert_read(session, alert)


@router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_alerts(
    request: Request,
    _: StreamReader,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    seconds: Annotated[float, Query(gt=0, le=3600)] = 600,
) -> StreamingResponse:
    """Server-sent events: each new alert as it is raised. Reconnect with Last-Event-ID."""
    factory = request.app.state.sessionmaker
    cursor = last_event_id if last_event_id is not None else after

    def fetch(since: int) -> list[dict[str, Any]]:
        with factory() as session:
            alerts = (
                session.execute(select(Alert).where(Alert.id > since).order_by(Alert.id).limit(100))
                .scalars()
                .all()
            )
            return [_alert_read(session, alert).model_dump(mode="json") for alert in alerts]

    async def events() -> AsyncIterator[bytes]:
        nonlocal cursor
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        yield b"retry: 3000\n\n"
        while loop.time() < deadline and not await request.is_disconnected():
            for alert in await asyncio.to_thread(fetch, cursor):
                cursor = alert["id"]
                payload = json.dumps(alert, ensure_ascii=False)
                yield f"id: {cursor}\nevent: alert\ndata: {payload}\n\n".encode()
            await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
