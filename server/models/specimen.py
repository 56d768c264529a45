"""Specimen transport: specimen types, box facts, handoff legs, trips, manifests, alerts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, JSONType, RecordModel, utc_now
from server.specimens.rules import (
    AlertKind,
    DiscrepancyKind,
    DiscrepancyState,
    ManifestAction,
    TemperatureClass,
)


def _enum(kind: type[Any]) -> Enum:
    return Enum(kind, native_enum=False, length=32)


class SpecimenType(RecordModel):
    """What a laboratory accepts: time limit from collection to receipt and temperature."""

    __tablename__ = "specimen_types"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    time_limit_minutes: Mapped[int]
    temperature_class: Mapped[TemperatureClass] = mapped_column(_enum(TemperatureClass))
    destination_kind: Mapped[str] = mapped_column(String(32), default="laboratory")


class Box(Base):
    """The current facts of a specimen box's trip, kept from its events."""

    __tablename__ = "boxes"
    __table_args__ = (Index("ix_boxes_deadline", "deadline"),)

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), primary_key=True)
    specimen_type_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("specimen_types.id"), default=None
    )
    origin_site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    destination_site_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sites.id"), default=None
    )
    count: Mapped[int | None] = mapped_column(default=None)
    tubes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    collected_at: Mapped[datetime | None] = mapped_column(default=None)
    deadline: Mapped[datetime | None] = mapped_column(default=None)
    seal: Mapped[str | None] = mapped_column(String(64), default=None)
    sealed_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    trip_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trips.id"), default=None)


class HandoffLeg(Base):
    """A transfer between two people; complete only when the taker has confirmed."""

    __tablename__ = "handoff_legs"
    __table_args__ = (Index("ix_handoff_legs_open", "confirmed", "opened_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), index=True)
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    giver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    taker_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    opened_at: Mapped[datetime]
    confirmed: Mapped[bool] = mapped_column(default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)


class Trip(RecordModel):
    """A courier's run on a day, with planned stops and a manifest."""

    __tablename__ = "trips"
    __table_args__ = (Index("ix_trips_day_courier", "day", "courier_id"),)

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    day: Mapped[date]
    courier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    vehicle: Mapped[str | None] = mapped_column(String(64), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class TripStop(Base):
    __tablename__ = "trip_stops"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    trip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trips.id"), index=True)
    seq: Mapped[int]
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    planned_arrival: Mapped[datetime | None] = mapped_column(default=None)


class ManifestLine(Base):
    """One item to pick up or drop at one stop, and whether the scans showed it happen."""

    __tablename__ = "manifest_lines"
    __table_args__ = (Index("ix_manifest_lines_item", "item_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    trip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trips.id"), index=True)
    stop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trip_stops.id"))
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"))
    action: Mapped[ManifestAction] = mapped_column(_enum(ManifestAction))
    done_position: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), default=None
    )


class Discrepancy(Base):
    """A missing, extra or misrouted item on a trip, until a person explains or resolves it."""

    __tablename__ = "discrepancies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    trip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trips.id"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"))
    kind: Mapped[DiscrepancyKind] = mapped_column(_enum(DiscrepancyKind))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    detected_at: Mapped[datetime] = mapped_column(default=utc_now)
    state: Mapped[DiscrepancyState] = mapped_column(
        _enum(DiscrepancyState), default=DiscrepancyState.open
    )
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)


class Alert(Base):
    """Something a dispatcher or the laboratory should act on, raised once per cause."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "closed_at", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[AlertKind] = mapped_column(_enum(AlertKind))
    item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("items.id"), default=None)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    raised_at: Mapped[datetime] = mapped_column(default=utc_now)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
