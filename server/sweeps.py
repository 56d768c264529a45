"""The time-based alerts, raised by one sweep that the server runs every so often and that
reading the alerts runs first: specimen boxes at risk of their limit, stale one-sided
handoffs, and instrument sets not back from a clinic in time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from server.config import Settings
from server.cssd.service import escalate_overdue_sets
from server.specimens.service import sweep as sweep_specimens


def sweep(session: Session, now: datetime, settings: Settings) -> None:
    """Raise every time-based alert due at ``now`` (each cause once)."""
    sweep_specimens(session, now, settings.transit_minutes, settings.one_sided_handoff_minutes)
    escalate_overdue_sets(session, now, settings.overdue_set_hours)
