"""Wiring the pages into the application: one router per page area, and their errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web import admin, cssd, dispatch, lab, login, planning, timeline
from web.i18n import role_label, t
from web.render import error_page, language
from web.session import CsrfFailed, LoginRequired, PageDenied, login_url


def install(app: FastAPI) -> None:
    """Add the boards' routers and the handlers that answer their refusals in HTML."""
    for module in (login, timeline, cssd, lab, admin, dispatch, planning):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_path)
        if request.headers.get("hx-request"):
            return HTMLResponse("", status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageDenied)
    async def _denied(request: Request, exc: PageDenied) -> Response:
        lang = language(request)
        needs = "、".join if lang == "zh" else ", ".join
        detail = t(
            lang,
            "error.denied",
            role=role_label(lang, exc.person.role),
            needs=needs(sorted(role_label(lang, role) for role in exc.needs)),
        )
        return error_page(request, 403, detail, exc.person)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return error_page(request, 403, t(language(request), "error.csrf"))
