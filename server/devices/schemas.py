"""API shapes for devices (edge agents)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from server.fields import Code, Name


class DeviceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "CSSD receiving bench", "site": "CSSD"}]},
    )

    name: Name
    site: Code = Field(description="Site code or barcode where the agent runs")


class DeviceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": False}]})

    name: Name | None = None
    active: bool | None = None


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    barcode: str
    name: str
    site_id: uuid.UUID
    active: bool
    last_seen_at: datetime | None


class DeviceWithToken(DeviceRead):
    token: str = Field(description="Shown once; only its hash is stored")
