"""/api/v1 specimen transport: specimen types, boxes, trips, discrepancies, alerts, FHIR."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from server import audit
from server.deps import NowDep, Reader, SessionDep, SettingsDep, StreamReader, require_person
from server.enums import Role
from server.errors import NotFound, error_responses
from server.fields import MAX_ROW_ID
from server.lookup import item_by_barcode
from server.models import (
    Alert,
    Box,
    HandoffLeg,
    Item,
    Person,
    SpecimenType,
)
from server.specimens import fhir, reads, service
from server.specimens.rules import DiscrepancyState
from server.specimens.schemas import (
    AlertRead,
    BoxRead,
    DiscrepancyRead,
    HandoffRead,
    Resolution,
    SpecimenTypeIn,
    SpecimenTypeRead,
    SpecimenTypeUpdate,
    TripIn,
    TripRead,
)
from server.sweeps import sweep

router = APIRouter(tags=["specimens"], responses=error_responses(400, 401, 403, 404, 409))
LabStaff = Annotated[Person, Depends(require_person(Role.lab_receiver))]
Dispatcher = Annotated[Person, Depends(require_person(Role.dispatcher))]
Resolver = Annotated[Person, Depends(require_person(Role.dispatcher, Role.lab_receiver))]


# --- specimen types


@router.get("/specimen-types", response_model=list[SpecimenTypeRead])
def list_specimen_types(session: SessionDep, _: Reader) -> Sequence[SpecimenType]:
    return session.execute(select(SpecimenType).order_by(SpecimenType.code)).scalars().all()


@router.post("/specimen-types", response_model=SpecimenTypeRead, status_code=201)
def create_specimen_type(
    session: SessionDep, person: LabStaff, data: SpecimenTypeIn
) -> SpecimenType:
    if session.execute(select(SpecimenType.id).where(SpecimenType.code == data.code)).first():
        from server.errors import Conflict

        raise Conflict(f"specimen type {data.code} already exists")
    specimen = SpecimenType(**data.model_dump())
    session.add(specimen)
    session.flush()
    audit.record(
        session,
        person,
        "specimen_type.create",
        "specimen_type",
        data.code,
        data.model_dump(mode="json"),
    )
    return specimen


@router.patch("/specimen-types/{code}", response_model=SpecimenTypeRead)
def update_specimen_type(
    session: SessionDep, person: LabStaff, code: str, data: SpecimenTypeUpdate
) -> SpecimenType:
    """The laboratory edits its time limits and temperature classes."""
    specimen = session.execute(
        select(SpecimenType).where(SpecimenType.code == code)
    ).scalar_one_or_none()
    if specimen is None:
        raise NotFound(f"no specimen type {code[:40]}")
    changes = data.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(specimen, name, value)
    session.flush()
    audit.record(session, person, "specimen_type.update", "specimen_type", specimen.code, changes)
    return specimen


# --- boxes


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
        origin=reads.site_code(session, box.origin_site_id),
        destination=reads.site_code(session, box.destination_site_id),
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
            site=reads.site_code(session, leg.site_id),
            opened_at=leg.opened_at,
        )
        for leg, code in rows
    ]


# --- trips, manifests, discrepancies


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
    return reads.trip_read(session, trip.barcode)


@router.get("/trips/{barcode}", response_model=TripRead)
def get_trip(session: SessionDep, _: Reader, barcode: str) -> TripRead:
    return reads.trip_read(session, barcode)


@router.post("/trips/{barcode}/complete", response_model=TripRead)
def complete_trip(session: SessionDep, _: Resolver, now: NowDep, barcode: str) -> TripRead:
    """The courier is back: pickups never scanned become 'missing' discrepancies."""
    service.complete_trip(session, service.trip_by_ref(session, barcode), now)
    return reads.trip_read(session, barcode)


@router.get("/discrepancies", response_model=list[DiscrepancyRead])
def list_discrepancies(
    session: SessionDep, _: Reader, state: DiscrepancyState | None = None
) -> list[DiscrepancyRead]:
    return reads.discrepancies(session, state=state)


@router.post("/discrepancies/{discrepancy_id}", response_model=DiscrepancyRead)
def resolve_discrepancy(
    session: SessionDep, person: Resolver, now: NowDep, discrepancy_id: uuid.UUID, data: Resolution
) -> DiscrepancyRead:
    """Mark a discrepancy explained or resolved, saying how; who and when are kept."""
    done = service.resolve_discrepancy(session, person, discrepancy_id, data.state, data.note, now)
    return next(d for d in reads.discrepancies(session, done.trip_id) if d.id == done.id)


# --- alerts


@router.get("/alerts", response_model=list[AlertRead])
def list_alerts(
    session: SessionDep,
    _: Reader,
    now: NowDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    include_closed: bool = False,
) -> list[AlertRead]:
    """Open alerts (time limits at risk, temperature, seals, one-sided handoffs, manifests,
    instrument sets overdue at a clinic)."""
    sweep(session, now, settings)
    query = select(Alert).where(Alert.id > after).order_by(Alert.id).limit(500)
    if not include_closed:
        query = query.where(Alert.closed_at.is_(None))
    return [reads.alert_read(session, alert) for alert in session.execute(query).scalars()]


@router.post("/alerts/{alert_id}/close", response_model=AlertRead)
def close_alert(
    session: SessionDep,
    _: Resolver,
    now: NowDep,
    alert_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
) -> AlertRead:
    return reads.alert_read(session, service.close_alert(session, alert_id, now))


@router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_alerts(
    request: Request,
    _: StreamReader,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_ROW_ID)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    seconds: Annotated[float, Query(gt=0, le=3600)] = 600,
) -> StreamingResponse:
    """Server-sent events: each new alert as it is raised. Reconnect with Last-Event-ID."""
    return alert_stream_response(
        request, last_event_id if last_event_id is not None else after, seconds
    )


def alert_stream_response(request: Request, after: int, seconds: float) -> StreamingResponse:
    """The alert event stream from alert id ``after`` on, for ``seconds`` (API and web UI)."""
    factory = request.app.state.sessionmaker
    cursor = after

    def fetch(since: int) -> list[dict[str, Any]]:
        with factory() as session:
            return [alert.model_dump(mode="json") for alert in reads.alerts_after(session, since)]

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
