"""/api/v1/plans: plan a day's courier runs, follow the solve, print route sheets."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from fastapi.responses import HTMLResponse

from server.deps import NowDep, SessionDep, SettingsDep, require_person
from server.enums import Role
from server.errors import Conflict, error_responses
from server.models import Person, PlanStatus
from server.plans import service
from server.plans.reads import plan_read
from server.plans.schemas import PlanIn, PlanRead
from server.plans.sheet import render_html

router = APIRouter(tags=["plans"], responses=error_responses(400, 401, 403, 404, 409))
Dispatcher = Annotated[Person, Depends(require_person(Role.dispatcher))]
PlanReader = Annotated[Person, Depends(require_person(Role.dispatcher, Role.courier))]


@router.post(
    "/plans",
    response_model=PlanRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Plan a day: solved in the background; poll GET /plans/{id} for progress",
)
def create_plan(
    body: PlanIn,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    person: Dispatcher,
) -> PlanRead:
    row, prepared = service.request_plan(
        session, settings, body.day, now, body.couriers, person, body.time_limit, body.seed
    )
    # Runs after the response, i.e. after this request's unit of work has committed the row.
    background.add_task(
        service.run,
        request.app.state.sessionmaker,
        row.id,
        prepared,
        body.time_limit,
        body.seed,
        settings.plan_workers,
    )
    return plan_read(row, now)


@router.get("/plans", response_model=list[PlanRead])
def list_plans(day: date, session: SessionDep, now: NowDep, _: PlanReader) -> list[PlanRead]:
    return [plan_read(row, now) for row in service.plans_of_day(session, day)]


@router.get("/plans/{plan_id}", response_model=PlanRead)
def get_plan(plan_id: uuid.UUID, session: SessionDep, now: NowDep, _: PlanReader) -> PlanRead:
    return plan_read(service.current_plan(session, plan_id, now), now)


@router.get("/plans/{plan_id}/sheet", response_class=HTMLResponse)
def plan_sheet(
    plan_id: uuid.UUID, session: SessionDep, settings: SettingsDep, _: PlanReader
) -> HTMLResponse:
    """Route sheets and manifests to print, one page per courier."""
    row = service.plan_by_id(session, plan_id)
    if row.status == PlanStatus.solving:
        raise Conflict("the plan is still being solved; its sheet is ready when it is done")
    return HTMLResponse(render_html(row, settings.zone))
