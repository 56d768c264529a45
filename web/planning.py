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
from server.plans.endpoints import create_plan, get_plan, read_plan
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
    return read_plan(rows[-1], plans.progress(rows[-1], now)) if rows else None


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
    """Start a plan through the API's own handler; the solve runs after this answer."""
    body = PlanIn(day=chosen_day(request, day), time_limit=seconds)
    plan = create_plan(body, request, background, session, settings, now, person)
    return _fragment(request, plan, person)


@router.get("/dispatch/plans/{plan_id}", response_class=HTMLResponse)
def plan_progress(
    request: Request, session: SessionDep, now: NowDep, person: Dispatcher, plan_id: uuid.UUID
) -> Response:
    """The plan's progress (polled while it solves), then its routes and what it left out."""
    return _fragment(request, get_plan(plan_id, session, now, person), person)
