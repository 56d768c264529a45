"""Browser sessions on top of the auth service: a login cookie, CSRF tokens, role checks.

The cookie holds an ordinary person token issued by ``server.auth.service.login`` (only its
SHA-256 is stored), so a browser session is revoked, expires and is checked exactly like an
API token. CSRF tokens are an HMAC of the session (or, before login, of a random cookie)
under the server's secret; every form and every HTMX request must carry one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import update

from server.auth.secrets import token_digest
from server.auth.service import authenticate
from server.deps import NowDep, SessionDep
from server.enums import Role
from server.errors import NotAuthenticated
from server.models import AccessToken, Person

SESSION_COOKIE = "handoff_session"
ANON_COOKIE = "handoff_anon"
LANG_COOKIE = "handoff_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid browser session: send the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Who:
    """Who is logged in, kept apart from the database session (which may be rolled back)."""

    name: str
    role: Role


class PageDenied(Exception):
    """A logged-in person whose role may not open this page or do this action."""

    def __init__(self, person: Person, needs: frozenset[Role]) -> None:
        super().__init__(person.role)
        self.person = Who(person.name, person.role)
        self.needs = needs


class CsrfFailed(Exception):
    """A state-changing request without the right CSRF token."""


def _secret(request: Request) -> bytes:
    return str(request.app.state.settings.secret_key).encode()


def csrf_for(request: Request, basis: str) -> str:
    """The CSRF token that goes with a session token (or the anonymous cookie)."""
    return hmac.new(_secret(request), b"csrf:" + basis.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_basis(request: Request) -> str | None:
    """What this browser's CSRF token is derived from, if it has anything yet."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "s:" + token_digest(session)
    anon = request.cookies.get(ANON_COOKIE)
    return "a:" + anon if anon else None


def ensure_anon_cookie(request: Request, response: Response) -> str:
    """Give a browser without a session a random cookie to bind its login form's CSRF token."""
    basis = csrf_basis(request)
    if basis is not None:
        return csrf_for(request, basis)
    value = secrets.token_urlsafe(24)
    response.set_cookie(
        ANON_COOKIE, value, httponly=True, samesite="lax", secure=_https(request), max_age=3600
    )
    return csrf_for(request, "a:" + value)


def current_csrf(request: Request) -> str:
    basis = csrf_basis(request)
    return csrf_for(request, basis) if basis else ""


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose token is missing or does not match."""
    if request.method in SAFE_METHODS:
        return
    basis = csrf_basis(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if basis is None or not sent or not hmac.compare_digest(sent, csrf_for(request, basis)):
        raise CsrfFailed()


CsrfChecked = Annotated[None, Depends(check_csrf)]


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.headers.get("hx-request"):
        path = request.headers.get("hx-current-url", path)
        if "://" in path:  # keep only the path and query of our own page
            path = "/" + path.split("://", 1)[1].partition("/")[2]
    elif request.url.query:
        path += "?" + request.url.query
    return path


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def optional_person(request: Request, session: SessionDep, now: NowDep) -> Person | None:
    """The person logged in through this browser, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = authenticate(session, token, now)
    except NotAuthenticated:
        return None
    return principal.person


MaybePerson = Annotated[Person | None, Depends(optional_person)]


def web_person(*roles: Role) -> Callable[[Request, Person | None], Person]:
    """A page dependency admitting a logged-in person with one of ``roles`` (admin always),
    the same rule as ``server.deps.require_person``."""
    allowed = frozenset(roles) | {Role.admin}

    def dependency(request: Request, person: MaybePerson) -> Person:
        if person is None:
            raise LoginRequired(_next_path(request))
        if roles and person.role not in allowed:
            raise PageDenied(person, allowed)
        return person

    return dependency


WebUser = Annotated[Person, Depends(web_person())]
AdminPerson = Annotated[Person, Depends(web_person(Role.admin))]


def start_session(response: Response, request: Request, token: str, max_age: int) -> None:
    """Set the login cookie (HttpOnly, SameSite=Lax) and drop the anonymous one."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_https(request),
        max_age=max_age,
        path="/",
    )
    response.delete_cookie(ANON_COOKIE)


def end_session(request: Request, session: SessionDep, now: NowDep, response: Response) -> None:
    """Revoke this browser's token and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == token_digest(token), AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.flush()
    response.delete_cookie(SESSION_COOKIE, path="/")


def safe_next(value: str | None) -> str:
    """Only a path on this server: never an open redirect to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/home"
    return value
