"""Route plans: one solve of a day's courier work, its progress and its result."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import JSONType, RecordModel


class PlanStatus(StrEnum):
    solving = "solving"
    done = "done"
    failed = "failed"
    superseded = "superseded"  # a later plan of the same day replaced its trips


class RoutePlan(RecordModel):
    """A plan for ``day`` made from the open work at ``as_of``.

    ``result`` holds the routes (stops with times, pickups and drops by barcode) and the
    unserved work with reasons; ``trips`` the barcodes of the trips created from it.
    """

    __tablename__ = "route_plans"
    __table_args__ = (Index("ix_route_plans_day", "day"),)

    day: Mapped[date]
    as_of: Mapped[datetime]
    status: Mapped[PlanStatus] = mapped_column(Enum(PlanStatus, native_enum=False, length=32))
    time_limit: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(default=0)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("route_plans.id"), default=None
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    objective: Mapped[float | None] = mapped_column(Float, default=None)
    travel_minutes: Mapped[float | None] = mapped_column(Float, default=None)
    work: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trips: Mapped[list[str]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
