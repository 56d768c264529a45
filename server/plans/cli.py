"""``handoff plan``: the same two units of work as the API, with the solve in between."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from routing import portfolio
from server.config import Settings
from server.db import build_engine, build_sessionmaker, session_scope
from server.models import utc_now
from server.plans import service
from server.plans.sheet import render_html, render_text


def plan_command(
    settings: Settings,
    day: date,
    time_limit: float,
    seed: int,
    html: str | None,
    say: Callable[[str], None] = lambda line: None,
) -> str:
    """Plan ``day`` now and return the route sheets as text (and write HTML if asked);
    ``say`` gets a line at each step and, during the search, as its time passes."""
    workers = settings.plan_workers
    # The planner's worker processes start while the day's work is read from the database.
    threading.Thread(
        target=portfolio.warm, args=(workers,), name="warm-planner", daemon=True
    ).start()
    engine = build_engine(settings.database_url)
    try:
        sessions = build_sessionmaker(engine)
        say(f"reading the open work for {day}")
        with session_scope(sessions) as session:
            prepared = service.prepare(session, settings, day, utc_now())
            plan_id = service.start(session, prepared, None, time_limit, seed, utc_now()).id
        problem = prepared.problem
        items, couriers = len(problem.requests), len(problem.vehicles)
        say(
            f"{items} item{'s' * (items != 1)} to move, {couriers} courier{'s' * (couriers != 1)}"
            f" on shift: searching for {time_limit:g} s"
            + (f", {workers} searches at once" if workers > 1 else "")
        )
        with _ticking(time_limit, say):
            service.run(sessions, plan_id, prepared, time_limit, seed, workers)
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


@contextmanager
def _ticking(time_limit: float, say: Callable[[str], None]) -> Iterator[None]:
    """While the block runs: a line to ``say`` about every tenth of ``time_limit`` (at most
    one a second, none for a search under a second). The search holds the GIL between its
    solutions, so a line can come a little late."""
    done = threading.Event()
    every = max(1.0, time_limit / 10)

    def tick() -> None:
        began, beat = time.monotonic(), 1
        while not done.wait(max(0.0, began + beat * every - time.monotonic())):
            if beat * every < time_limit:
                say(f"searching: {beat * every:g} s of {time_limit:g}")
            beat += 1

    thread = threading.Thread(target=tick, name="plan-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
