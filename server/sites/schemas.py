"""API shapes for sites."""

from __future__ import annotations

import uuid
from datetime import time

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from server.enums import SiteKind
from server.fields import Code, LocalTime, Name

EXAMPLE: JsonDict = {
    "code": "T01",
    "kind": "township_clinic",
    "name_zh": "城关镇卫生院",
    "name_en": "Chengguan Township Health Centre",
    "latitude": 30.512,
    "longitude": 114.301,
    "opens_at": "08:00:00",
    "closes_at": "17:30:00",
}


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    code: Code
    kind: SiteKind
    name_zh: Name
    name_en: Name
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    opens_at: LocalTime = time(8, 0)
    closes_at: LocalTime = time(17, 30)
    parent_code: Code | None = Field(None, description="The site this one belongs to")


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name_en": "X"}]})

    kind: SiteKind | None = None
    name_zh: Name | None = None
    name_en: Name | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    opens_at: LocalTime | None = None
    closes_at: LocalTime | None = None
    active: bool | None = None


class SiteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    barcode: str
    code: str
    kind: SiteKind
    name_zh: str
    name_en: str
    latitude: float
    longitude: float
    opens_at: LocalTime
    closes_at: LocalTime
    parent_id: uuid.UUID | None
    active: bool
