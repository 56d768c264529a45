"""Logging in and out of the boards, the language switch and each role's home page."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.auth import service as auth
from server.auth.throttle import TooManyAttempts
from server.deps import NowDep, SessionDep
from server.errors import NotAuthenticated
from web.config import get_web_settings
from web.i18n import t
from web.render import home_for, language, page_router, render
from web.session import (
    LANG_COOKIE,
    CsrfChecked,
    MaybePerson,
    WebUser,
    end_session,
    ensure_anon_cookie,
    safe_next,
    start_session,
)

router = page_router()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, person: MaybePerson, next: str | None = None) -> Response:
    """The login form; a browser already logged in goes straight on."""
    if person is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    response = HTMLResponse("")
    csrf = ensure_anon_cookie(request, response)
    page = render(request, "ui/login.html", {"next": safe_next(next), "error": None}, csrf=csrf)
    for header, value in response.raw_headers:
        if header == b"set-cookie":
            page.raw_headers.append((header, value))
    return page


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    now: NowDep,
    _: CsrfChecked,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/home",
) -> Response:
    """Check the password with the auth service and start a cookie session."""
    ttl = get_web_settings().session_hours * 3600
    client = request.client.host if request.client else None
    try:
        if not username or not password:
            raise NotAuthenticated("wrong username or password")
        issued = auth.throttled_login(
            session,
            request.app.state.login_throttle,
            username,
            password,
            client,
            timedelta(seconds=ttl),
            now,
        )
    except TooManyAttempts as refused:
        error = t(language(request), "login.throttled", seconds=refused.retry_after)
        context = {"next": safe_next(next), "error": error, "username": username}
        page = render(request, "ui/login.html", context, status_code=429)
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    except NotAuthenticated:
        context = {"next": safe_next(next), "error": t(language(request), "login.wrong"),
                   "username": username}  # fmt: skip
        return render(request, "ui/login.html", context, status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    start_session(response, request, issued.token, ttl)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: NowDep, _: CsrfChecked) -> Response:
    """Revoke the browser's token and go back to the login page."""
    response = RedirectResponse("/login", status_code=303)
    end_session(request, session, now, response)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    """中文 or English, remembered in a cookie for a year."""
    response = RedirectResponse(safe_next(next), status_code=303)
    chosen = "en" if code == "en" else "zh"
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/home")
def home(person: WebUser) -> Response:
    """Each role's first board."""
    return RedirectResponse(home_for(person), status_code=303)
