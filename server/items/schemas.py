"""API shapes for items and their custody chain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.enums import ItemKind
from server.fields import BarcodeText, Code, JsonObject, ShortText


class ItemCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "specimen_box",
                    "description": "蓝色冷藏箱 Blue cold box",
                    "home_site": "T01",
                }
            ]
        },
    )

    kind: ItemKind
    barcode: BarcodeText | None = Field(None, description="A pre-printed ID; generated if omitted")
    description: ShortText = ""
    home_site: Code | None = Field(None, description="Owning site code or barcode")
    attributes: JsonObject = Field(default_factory=dict)


class ItemUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"description": "Box 7"}]}
    )

    description: ShortText | None = None
    home_site: Code | None = None
    attributes: JsonObject | None = None
    active: bool | None = None


class PartyRead(BaseModel):
    badge: str
    name: str
    role: str


class SiteRef(BaseModel):
    code: str
    name_zh: str
    name_en: str


class ItemRead(BaseModel):
    barcode: str
    kind: ItemKind
    description: str
    home_site: SiteRef | None
    attributes: dict[str, Any]
    active: bool
    state: str = Field(description="Current lifecycle state, projected from the ledger")
    state_label: str
    state_label_zh: str
    last_seq: int
    last_event_at: datetime | None
    current_site: SiteRef | None
    holder: PartyRead | None
    open_flags: int


class FlagRead(BaseModel):
    code: str
    en: str
    zh: str


class CustodyEventRead(BaseModel):
    position: int
    event_id: uuid.UUID
    item_seq: int
    type: str
    actor: PartyRead | None
    counterparty: PartyRead | None
    site: SiteRef | None
    device: str | None
    occurred_at: datetime
    received_at: datetime
    details: dict[str, Any]
    flag_code: str | None
    flags: list[FlagRead] = Field(description="Why the event is flagged; empty if it is not")
    prev_hash: str
    hash: str
    hash_ok: bool = Field(description="The row still matches its stored hash")


class CustodyChain(BaseModel):
    item: ItemRead
    events: list[CustodyEventRead]
    intact: bool = Field(description="Every event of this item matches its hash")


class CorrectionIn(BaseModel):
    """A correction of one recorded step: which event, which field, the right value, why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "0b6f7c1e-9d2a-4c61-8a47-2f1e3b5d9c10",
                    "field": "actor",
                    "value": "PE4X7K2M9Q",
                    "reason": "扫错了工牌：实际包装者为王芳",
                }
            ]
        },
    )

    event_id: uuid.UUID
    field: Literal["actor", "counterparty", "note"]
    value: ShortText | None = Field(
        None, description="a badge for actor/counterparty (null: nobody), or the note's text"
    )
    reason: ShortText = Field(min_length=2, description="why it is corrected (kept for audit)")


class CorrectionRead(BaseModel):
    """The correction event appended to the item's chain; the corrected event is unchanged."""

    position: int
    item_seq: int
    corrects: uuid.UUID
    field: str
    before: str | None
    after: str | None
