"""API shapes for event ingest and ledger verification."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from server.fields import BarcodeText, JsonObject

EventType = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]

EVENT_EXAMPLE: JsonDict = {
    "event_id": "6f1c2a7e-8a55-4b8e-9f57-0d2c3b1e9a10",
    "type": "pickup",
    "item": "BX0000001C8",
    "actor": "BD00000017M",
    "counterparty": "BD0000002AB",
    "site": "ZN000000046",
    "occurred_at": "2026-11-22T08:15:03+08:00",
    "details": {"seal": "S-004512", "temperature_c": 5.1},
}


class EventIn(BaseModel):
    """One scan as a device or person reports it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    event_id: uuid.UUID = Field(description="Made by the device; the idempotency key")
    type: EventType
    item: BarcodeText
    actor: BarcodeText | None = Field(None, description="Badge of the person who scanned")
    counterparty: BarcodeText | None = Field(None, description="Badge of the other party")
    site: BarcodeText | None = Field(
        None, description="Site barcode or code; a device's own site if omitted"
    )
    occurred_at: AwareDatetime = Field(description="The device's clock, with its UTC offset")
    details: JsonObject = Field(default_factory=dict)


class EventBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE]}]}
    )

    events: list[EventIn] = Field(description="In the order they happened at the device")
    sent_at: AwareDatetime | None = Field(
        None,
        description="The device's clock when it sent the batch; lets the server measure the "
        "device's clock error and order late events by when they really happened",
    )


class Status(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"
    flagged = "flagged"
    rejected = "rejected"
    not_written = "not_written"


class EventResult(BaseModel):
    index: int
    event_id: uuid.UUID
    status: Status
    code: str | None = None
    reason: str | None = Field(None, description="Why, in English")
    reason_zh: str | None = Field(None, description="Why, in Chinese")
    position: int | None = None
    item_seq: int | None = None


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    flagged: int
    rejected: int
    results: list[EventResult]


class BatchRejectedBody(IngestResponse):
    error: str = "BatchRejected"
    detail: str


class BrokenLinkRead(BaseModel):
    position: int
    event_id: str | None
    problem: str


class ProjectionMismatchRead(BaseModel):
    barcode: str
    field: str
    stored: str
    rebuilt: str


class VerifyReport(BaseModel):
    ok: bool
    events_checked: int
    head_position: int
    first_broken: BrokenLinkRead | None
    items_checked: int
    projection_mismatches: list[ProjectionMismatchRead]
    seconds: float
