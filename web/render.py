"""Rendering pages: templates, the language, role-aware navigation and the day shown."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from server.enums import Role
from server.errors import BadRequest, HandoffError
from server.models import Person
from web.i18n import Language, role_label, t
from web.session import LANG_COOKIE, Who, current_csrf

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    path: str
    roles: frozenset[Role]


STAFF = frozenset(Role)
NAV = (
    NavItem("nav.dispatch", "/dispatch", frozenset({Role.dispatcher})),
    NavItem("nav.lab", "/lab", frozenset({Role.lab_receiver, Role.dispatcher})),
    NavItem("nav.cssd", "/cssd", frozenset({Role.cssd_staff})),
    NavItem("nav.timeline", "/timeline", STAFF),
    NavItem("nav.admin", "/admin", frozenset()),
)


def nav_for(person: Person | Who | None) -> list[NavItem]:
    """The pages this person's role may open (admin sees all)."""
    if person is None:
        return []
    return [item for item in NAV if person.role == Role.admin or person.role in item.roles]


def home_for(person: Person) -> str:
    items = nav_for(person)
    return items[0].path if items else "/timeline"


def language(request: Request) -> Language:
    """zh-CN unless the browser chose English with the switch."""
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def local_day(request: Request) -> date:
    zone: ZoneInfo = request.app.state.settings.zone
    return datetime.now(zone).date()


def chosen_day(request: Request, text: str | None) -> date:
    """The day a board shows: ``?day=YYYY-MM-DD`` or today in the consortium's time zone."""
    if not text:
        return local_day(request)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"day must be YYYY-MM-DD, not {text[:20]!r}") from None


def local_time(request: Request, moment: datetime | None, fmt: str = "%H:%M") -> str:
    if moment is None:
        return "—"
    zone: ZoneInfo = request.app.state.settings.zone
    return moment.astimezone(zone).strftime(fmt)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    person: Person | Who | None = None,
    status_code: int = 200,
    csrf: str | None = None,
) -> HTMLResponse:
    """Render ``name`` with the language, the person, the navigation and the CSRF token."""
    lang = language(request)

    def tr(key: str, **params: Any) -> str:
        return t(lang, key, **params)

    def when(moment: datetime | None, fmt: str = "%H:%M") -> str:
        return local_time(request, moment, fmt)

    base = {
        "lang": lang,
        "t": tr,
        "when": when,
        "person": person,
        "role_label": lambda role: role_label(lang, role),
        "nav": nav_for(person),
        "csrf": csrf if csrf is not None else current_csrf(request),
        "path": request.url.path,
        "here": quote(
            request.url.path + ("?" + request.url.query if request.url.query else ""), safe="/"
        ),
        "timedelta": timedelta,
    }
    return templates.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status_code
    )


# --- errors on pages --------------------------------------------------------------------


def flash(
    request: Request, messages: list[tuple[str, str]], status_code: int = 200
) -> HTMLResponse:
    """A fragment for the page's message area (``#flash``)."""
    return render(request, "ui/_flash.html", {"messages": messages}, status_code=status_code)


def _validation_text(errors: Sequence[Any]) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "form"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "invalid input"


def error_page(
    request: Request, status_code: int, detail: str, person: Person | Who | None = None
) -> HTMLResponse:
    """The error as HTML: into ``#flash`` for an HTMX request, else a page of its own."""
    lang = language(request)
    if request.headers.get("hx-request"):
        response = flash(request, [("bad", detail)], status_code=status_code)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render(
        request,
        "ui/error.html",
        {"title": t(lang, f"error.{status_code}"), "detail": detail},
        person=person,
        status_code=status_code,
    )


def _detail(request: Request, error: HandoffError) -> str:
    """The error in the page's language where the service gave both."""
    zh = error.extra.get("detail_zh")
    return str(zh) if language(request) == "zh" and zh else error.detail


class PageRoute(APIRoute):
    """A page route: domain and validation errors become readable HTML, never JSON or a 500.

    The session dependency has already rolled back when an error reaches this wrapper, so a
    refused action leaves nothing behind.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HandoffError as error:
                return error_page(request, error.status_code, _detail(request, error))
            except (RequestValidationError, ValidationError) as error:
                return error_page(request, 422, _validation_text(error.errors()))

        return page_handler


def page_router() -> APIRouter:
    """A router for pages: not in the API schema, errors rendered as HTML."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
