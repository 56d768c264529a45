"""/api/v1/sites"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, status

from server.deps import AdminUser, Reader, SessionDep
from server.errors import error_responses
from server.lookup import site_by_ref
from server.models import Site
from server.sites import service
from server.sites.schemas import SiteCreate, SiteRead, SiteUpdate

router = APIRouter(prefix="/sites", tags=["sites"], responses=error_responses(401, 403))


@router.get("", response_model=list[SiteRead])
def list_sites(session: SessionDep, _: Reader, include_inactive: bool = False) -> Sequence[Site]:
    return service.list_sites(session, include_inactive)


@router.post(
    "",
    response_model=SiteRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422),
)
def create_site(session: SessionDep, admin: AdminUser, data: SiteCreate) -> Site:
    return service.create_site(session, admin, data)


@router.get("/{ref}", response_model=SiteRead, responses=error_responses(404))
def get_site(session: SessionDep, _: Reader, ref: str) -> Site:
    return site_by_ref(session, ref)


@router.patch("/{ref}", response_model=SiteRead, responses=error_responses(404, 422))
def update_site(session: SessionDep, admin: AdminUser, ref: str, data: SiteUpdate) -> Site:
    return service.update_site(session, admin, site_by_ref(session, ref), data)


@router.delete("/{ref}", response_model=SiteRead, responses=error_responses(404))
def deactivate_site(session: SessionDep, admin: AdminUser, ref: str) -> Site:
    """Sites are never deleted (events refer to them); this deactivates one."""
    return service.update_site(session, admin, site_by_ref(session, ref), SiteUpdate(active=False))
