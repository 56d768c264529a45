"""Administration: sites, people and their roles, devices with their token shown once.

Every change goes through the same services as ``/api/v1/sites``, ``/people`` and
``/devices`` (which audit it), with the forms read into the API's own schemas.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from server.deps import SessionDep
from server.devices import service as devices
from server.devices.schemas import DeviceCreate, DeviceUpdate
from server.enums import Role, SiteKind
from server.errors import BadRequest
from server.lookup import device_by_barcode, person_by_badge
from server.models import Person
from server.people import service as people
from server.people.schemas import PersonCreate, PersonUpdate
from server.sites import service as sites
from server.sites.schemas import SiteCreate
from web.i18n import role_label, t
from web.render import language, page_router, render
from web.session import AdminPerson, CsrfChecked

router = page_router()
Text = Annotated[str, Form(max_length=200)]


def _blank_to_none(values: dict[str, str]) -> dict[str, Any]:
    return {key: (value.strip() or None) for key, value in values.items()}


def _context(session: SessionDep) -> dict[str, Any]:
    site_rows = sites.list_sites(session, include_inactive=True)
    codes = {site.id: site.code for site in site_rows}
    staff = people.list_people(session)
    counts = Counter(person.role for person in staff if person.active)
    return {
        "sites": site_rows,
        "site_code": lambda site_id: codes.get(site_id, "—"),
        "people": staff,
        "devices": devices.list_devices(session),
        "roles": list(Role),
        "role_counts": counts,
        "site_kinds": list(SiteKind),
        "token": None,
    }


def _board(
    request: Request,
    session: SessionDep,
    person: Person,
    messages: list[tuple[str, str]],
    **extra: Any,
) -> Response:
    context = {**_context(session), "messages": messages, **extra}
    return render(request, "ui/_admin_board.html", context, person=person)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep, person: AdminPerson) -> Response:
    context = {**_context(session), "messages": []}
    return render(request, "ui/admin.html", context, person=person)


@router.post("/admin/sites", response_class=HTMLResponse)
def add_site(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    code: Text,
    kind: Text,
    name_zh: Text,
    name_en: Text,
    latitude: Text,
    longitude: Text,
    parent_code: Text = "",
) -> Response:
    """``create_site`` with the API's ``SiteCreate``."""
    fields = dict(code=code, kind=kind, name_zh=name_zh, name_en=name_en, latitude=latitude,
                  longitude=longitude, parent_code=parent_code)  # fmt: skip
    data = SiteCreate.model_validate(_blank_to_none(fields))
    site = sites.create_site(session, person, data)
    done = t(language(request), "admin.site_added", code=site.code)
    return _board(request, session, person, [("ok", done)])


@router.post("/admin/people", response_class=HTMLResponse)
def add_person(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    name: Text,
    role: Text,
    home_site: Text = "",
    username: Text = "",
    password: Text = "",
) -> Response:
    """``create_person`` with the API's ``PersonCreate`` (the password is hashed there)."""
    fields = dict(name=name, role=role, home_site=home_site, username=username, password=password)
    data = PersonCreate.model_validate(_blank_to_none(fields))
    added = people.create_person(session, person, data)
    done = t(language(request), "admin.person_added", name=added.name, badge=added.badge)
    return _board(request, session, person, [("ok", done)])


@router.post("/admin/people/{badge}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    badge: str,
    role: Text,
) -> Response:
    """``update_person`` with a new role."""
    data = PersonUpdate.model_validate({"role": role})
    changed = people.update_person(session, person, person_by_badge(session, badge), data)
    lang = language(request)
    done = t(lang, "admin.role_changed", name=changed.name, role=role_label(lang, changed.role))
    return _board(request, session, person, [("ok", done)])


@router.post("/admin/people/{badge}/active", response_class=HTMLResponse)
def set_person_active(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    badge: str,
    active: Annotated[bool, Form()],
) -> Response:
    """Disable a login (its tokens stop working at once) or enable it again."""
    target = person_by_badge(session, badge)
    if target.id == person.id and not active:
        raise BadRequest(t(language(request), "admin.not_yourself"))
    people.update_person(session, person, target, PersonUpdate(active=active))
    done = t(language(request), "admin.now_active" if active else "admin.now_inactive",
             name=target.name)  # fmt: skip
    return _board(request, session, person, [("ok", done)])


@router.post("/admin/devices/{barcode}/active", response_class=HTMLResponse)
def set_device_active(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    barcode: str,
    active: Annotated[bool, Form()],
) -> Response:
    """Revoke a device (its token is refused from now on) or bring it back."""
    device = device_by_barcode(session, barcode)
    devices.update_device(session, person, device, DeviceUpdate(active=active))
    done = t(language(request), "admin.now_active" if active else "admin.now_inactive",
             name=device.name)  # fmt: skip
    return _board(request, session, person, [("ok", done)])


@router.post("/admin/devices", response_class=HTMLResponse)
def add_device(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
    _: CsrfChecked,
    name: Text,
    site: Text,
) -> Response:
    """``create_device``; its token is in this answer and never again."""
    data = DeviceCreate.model_validate({"name": name, "site": site.strip()})
    device, token = devices.create_device(session, person, data)
    response = _board(request, session, person, [], token=token, token_device=device)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/devices/{barcode}/token", response_class=HTMLResponse)
def rotate(
    request: Request, session: SessionDep, person: AdminPerson, _: CsrfChecked, barcode: str
) -> Response:
    """``rotate_token``: the old token stops working, the new one is shown once."""
    device = device_by_barcode(session, barcode)
    token = devices.rotate_token(session, person, device)
    response = _board(request, session, person, [], token=token, token_device=device)
    response.headers["Cache-Control"] = "no-store"
    return response
