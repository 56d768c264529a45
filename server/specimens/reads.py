"""Read models of specimen transport: trips with their manifests, discrepancies, alerts."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, Discrepancy, Item, ManifestLine, Person, Site, Trip, TripStop
from server.specimens import service
from server.specimens.rules import DiscrepancyState
from server.specimens.schemas import AlertRead, DiscrepancyRead, LineRead, StopRead, TripRead


def site_code(session: Session, site_id: uuid.UUID | None) -> str | None:
    """A site's short code, or None."""
    site = session.get(Site, site_id) if site_id else None
    return site.code if site else None


def trip_read(session: Session, trip_ref: str) -> TripRead:
    """A trip by barcode with its stops, manifest lines and discrepancies."""
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
                site=site_code(session, stop.site_id) or "",
                planned_arrival=stop.planned_arrival,
                lines=[
                    LineRead(item=code, action=line.action, done=line.done_position is not None)
                    for line, code in lines
                    if line.stop_id == stop.id
                ],
            )
            for stop in stops
        ],
        discrepancies=discrepancies(session, trip.id),
    )


def discrepancies(
    session: Session, trip_id: uuid.UUID | None = None, state: DiscrepancyState | None = None
) -> list[DiscrepancyRead]:
    """Discrepancies, of one trip or in one state if asked, oldest first."""
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
            site=site_code(session, d.site_id),
            detected_at=d.detected_at,
            state=d.state,
            resolution=d.resolution,
        )
        for d, item, trip in session.execute(query).all()
    ]


def alert_read(session: Session, alert: Alert) -> AlertRead:
    """An alert with its item and site by code."""
    item = session.get(Item, alert.item_id) if alert.item_id else None
    return AlertRead(
        id=alert.id,
        kind=alert.kind,
        item=item.barcode if item else None,
        site=site_code(session, alert.site_id),
        raised_at=alert.raised_at,
        message_zh=alert.message_zh,
        message_en=alert.message_en,
        closed_at=alert.closed_at,
    )


def alerts_after(session: Session, since: int, limit: int = 100) -> list[AlertRead]:
    """Alerts raised after id ``since`` (open or closed), in the order they were raised."""
    alerts = (
        session.execute(select(Alert).where(Alert.id > since).order_by(Alert.id).limit(limit))
        .scalars()
        .all()
    )
    return [alert_read(session, alert) for alert in alerts]
