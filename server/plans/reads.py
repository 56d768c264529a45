"""Route plans as the API and the pages show them."""

from __future__ import annotations

from datetime import datetime

from server.models import RoutePlan
from server.plans import service
from server.plans.schemas import PlanRead

__all__ = ["plan_read"]


def plan_read(row: RoutePlan, now: datetime) -> PlanRead:
    """The plan with its progress at ``now``."""
    return PlanRead(
        id=row.id,
        day=row.day,
        as_of=row.as_of,
        status=row.status,
        progress=service.progress(row, now),
        time_limit=row.time_limit,
        started_at=row.started_at,
        finished_at=row.finished_at,
        objective=row.objective,
        travel_minutes=row.travel_minutes,
        routes=row.result.get("routes", []),
        unserved=row.result.get("unserved", row.work.get("unplannable", [])),
        trips=row.trips,
        stats=row.stats,
        error=row.error,
        replaces=row.replaces_id,
    )
