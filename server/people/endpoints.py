"""/api/v1/people"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, status

from server.deps import AdminUser, SessionDep, require_person
from server.enums import Role
from server.errors import error_responses
from server.lookup import person_by_badge
from server.models import Person
from server.people import service
from server.people.schemas import PersonCreate, PersonRead, PersonUpdate

router = APIRouter(prefix="/people", tags=["people"], responses=error_responses(401, 403))
Staff = Annotated[Person, Depends(require_person(Role.dispatcher))]


@router.get("", response_model=list[PersonRead])
def list_people(session: SessionDep, _: Staff, role: Role | None = None) -> Sequence[Person]:
    return service.list_people(session, role)


@router.get("/me", response_model=PersonRead)
def who_am_i(person: Annotated[Person, Depends(require_person())]) -> Person:
    return person


@router.post(
    "",
    response_model=PersonRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422),
)
def create_person(session: SessionDep, admin: AdminUser, data: PersonCreate) -> Person:
    return service.create_person(session, admin, data)


@router.get("/{badge}", response_model=PersonRead, responses=error_responses(400, 404))
def get_person(session: SessionDep, _: Staff, badge: str) -> Person:
    return person_by_badge(session, badge)


@router.patch("/{badge}", response_model=PersonRead, responses=error_responses(400, 404, 422))
def update_person(session: SessionDep, admin: AdminUser, badge: str, data: PersonUpdate) -> Person:
    return service.update_person(session, admin, person_by_badge(session, badge), data)


@router.delete("/{badge}", response_model=PersonRead, responses=error_responses(400, 404))
def deactivate_person(session: SessionDep, admin: AdminUser, badge: str) -> Person:
    """People are never deleted (events name them); this deactivates one."""
    return service.update_person(
        session, admin, person_by_badge(session, badge), PersonUpdate(active=False)
    )
