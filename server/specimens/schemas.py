"""Request and response schemas of the specimen transport API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from server.fields import BarcodeText, Code, Name, ShortText
from server.specimens.rules import AlertKind, DiscrepancyKind, DiscrepancyState, TemperatureClass


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
