"""Pages served by the server: the landing page and the vendored API docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import CustodyEvent, Device, Item, Person, Site
from web.security import content_security_policy, inline_script_hashes

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _counts(session: Session) -> dict[str, int]:
    return {
        name: session.execute(select(func.count()).select_from(model)).scalar_one()
        for name, model in (
            ("sites", Site),
            ("people", Person),
            ("devices", Device),
            ("items", Item),
            ("events", CustodyEvent),
        )
    }


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    with request.app.state.sessionmaker() as session:
        counts = _counts(session)
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "counts": counts,
            "environment": settings.environment,
            "database": request.app.state.database_label,
        },
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers ask for on their own (the pages link the same file)."""
    return FileResponse(STATIC_DIR / "ui" / "favicon.svg", media_type="image/svg+xml")


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Handoff API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
    )
    # Swagger UI starts from one fixed inline script: allowed by its hash, nothing else is.
    hashes = inline_script_hashes(bytes(page.body).decode())
    page.headers["Content-Security-Policy"] = content_security_policy(None, hashes)
    return page
