"""``handoff plan``: the same two units of work as the API, with the solve in between."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from routing import portfolio
from server.config import Settings
from server.db import build_engine, build_sessionmaker, session_scope
from server.models import utc_now
from server.plans import service
from server.plans.sheet import render_html, render_text


def plan_command(
    settings: Settings, day: date, time_limit: float, seed: int, html: str | None
) -> str:
    """Plan ``day`` now and return the route sheets as text (and write HTML if asked)."""
    # The planner's worker processes start while the day's work is read from the database.
    threading.Thread(
        target=portfolio.warm, args=(settings.plan_workers,), name="warm-planner", daemon=True
    ).start()
    engine = build_engine(settings.database_url)
    try:
        sessions = build_sessionmaker(engine)
        with session_scope(sessions) as session:
            prepared = service.prepare(session, settings, day, utc_now())
            plan_id = service.start(session, prepared, None, time_limit, seed, utc_now()).id
        service.run(sessions, plan_id, prepared, time_limit, seed, settings.plan_workers)
        with session_scope(sessions) as session:
            row = service.plan_by_id(session, plan_id)
            if row.error:
                return f"plan {plan_id} failed: {row.error}"
            text = render_text(row, settings.zone)
            if html:
                Path(html).write_text(render_html(row, settings.zone), encoding="utf-8")
                text += f"\n\nprintable sheets written to {html}"
            return f"plan {plan_id}\n{text}"
    finally:
        engine.dispose()
