"""The dispatcher's plan button: ``POST /api/v1/plans`` from the board, its progress live,
its routes (as the day's trips) on the map once it is done."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from server.deps import NowDep, SessionDep, SettingsDep
from server.enums import Role
from server.models import Person, PlanStatus
from server.plans import service as plans
from server.plans.reads import plan_read
from server.plans.schemas import PlanIn, PlanRead
from web.render import chosen_day, page_router, render
from web.session import CsrfChecked, web_person

router = page_router()
Dispatcher = Annotated[Person, Depends(web_person(Role.dispatcher))]
DEFAULT_SECONDS = 5.0


def _fragment(request: Request, plan: PlanRead, person: Person) -> Response:
    context: dict[str, Any] = {"plan": plan, "solving": plan.status == PlanStatus.solving}
    response = render(request, "ui/_plan.html", context, person=person)
    if plan.status != PlanStatus.solving:
        response.headers["HX-Trigger"] = "handoff:planned"  # redraw trips and map
    return response


def latest_plan(session: SessionDep, day: date, now: datetime) -> PlanRead | None:
    """The day's most recent plan (solving, done or failed), as the API reads it."""
    rows = [row for row in plans.plans_of_day(session, day) if row.status != PlanStatus.superseded]
    return plan_read(rows[-1], now) if rows else None


@router.post("/dispatch/plans", response_class=HTMLResponse)
def plan_day(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    person: Dispatcher,
    _: CsrfChecked,
    day: Annotated[str | None, Form(max_length=10)] = None,
    seconds: Annotated[float, Form(ge=0.1, le=300)] = DEFAULT_SECONDS,
) -> Response:
    """Start a plan as the API does; the solve runs after this answer (and its commit)."""
    body = PlanIn(day=chosen_day(request, day), time_limit=seconds)
    row, prepared = plans.request_plan(
        session, settings, body.day, now, None, person, body.time_limit, body.seed
    )
    background.add_task(
        plans.run, request.app.state.sessionmaker, row.id, prepared, body.time_limit, body.seed
    )
    return _fragment(request, plan_read(row, now), person)


@router.get("/dispatch/plans/{plan_id}", response_class=HTMLResponse)
def plan_progress(
    request: Request, session: SessionDep, now: NowDep, person: Dispatcher, plan_id: uuid.UUID
) -> Response:
    """The plan's progress (polled while it solves), then its routes and what it left out."""
    return _fragment(request, plan_read(plans.current_plan(session, plan_id, now), now), person)
