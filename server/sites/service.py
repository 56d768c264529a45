"""Maintaining the consortium's sites."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from labels.identity import Kind, new_id
from server import audit
from server.errors import Conflict, Unprocessable
from server.lookup import site_by_ref
from server.models import Person, Site
from server.sites.schemas import SiteCreate, SiteUpdate


def list_sites(session: Session, include_inactive: bool = False) -> Sequence[Site]:
    query = select(Site).order_by(Site.code)
    if not include_inactive:
        query = query.where(Site.active.is_(True))
    return session.execute(query).scalars().all()


def create_site(session: Session, actor: Person | None, data: SiteCreate) -> Site:
    if session.execute(select(Site.id).where(Site.code == data.code)).first():
        raise Conflict(f"a site with code {data.code} already exists")
    if data.closes_at <= data.opens_at:
        raise Unprocessable("closes_at must be after opens_at")
    parent = site_by_ref(session, data.parent_code) if data.parent_code else None
    site = Site(
        barcode=new_id(Kind.SITE),
        **data.model_dump(exclude={"parent_code"}),
        parent_id=parent.id if parent else None,
    )
    session.add(site)
    session.flush()
    audit.record(session, actor, "site.create", "site", site.code, data.model_dump(mode="json"))
    return site


def update_site(session: Session, actor: Person | None, site: Site, data: SiteUpdate) -> Site:
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name != "active":
            raise Unprocessable(f"{name} cannot be empty")
        setattr(site, name, value)
    if site.closes_at <= site.opens_at:
        raise Unprocessable("closes_at must be after opens_at")
    session.flush()
    audit.record(
        session,
        actor,
        "site.update",
        "site",
        site.code,
        data.model_dump(mode="json", exclude_unset=True),
    )
    return site
