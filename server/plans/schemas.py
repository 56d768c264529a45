"""Route plan API bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.fields import BarcodeText
from server.models import PlanStatus


class PlanIn(BaseModel):
    """Plan ``day`` (today: from now and from where the couriers are)."""

    model_config = ConfigDict(extra="forbid")

    day: date
    time_limit: float = Field(default=10.0, ge=0.1, le=300, description="Seconds of search")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    couriers: list[BarcodeText] | None = Field(
        default=None, max_length=100, description="Badges; default: every active courier"
    )


class StopRead(BaseModel):
    site: str
    arrival: datetime
    departure: datetime
    pickups: list[str]
    drops: list[str]
    load: dict[str, int]


class RouteRead(BaseModel):
    courier: str
    name: str
    trip: str | None = None
    start: datetime
    end: datetime
    travel_minutes: float
    on_board_at_start: list[str]
    stops: list[StopRead]


class UnservedRead(BaseModel):
    item: str
    reason: str


class PlanRead(BaseModel):
    id: uuid.UUID
    day: date
    as_of: datetime
    status: PlanStatus
    progress: float = Field(description="0–1: the share of the time limit used so far")
    time_limit: float
    started_at: datetime | None
    finished_at: datetime | None
    objective: float | None
    travel_minutes: float | None
    routes: list[RouteRead]
    unserved: list[UnservedRead]
    trips: list[str]
    stats: dict[str, Any]
    error: str | None
    replaces: uuid.UUID | None
