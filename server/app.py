"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routing import portfolio
from server.auth.endpoints import router as auth_router
from server.auth.secrets import dummy_hash
from server.auth.throttle import LoginThrottle
from server.config import Settings, get_settings
from server.cssd.endpoints import router as cssd_router
from server.custody.endpoints import router as custody_router
from server.db import build_engine, build_sessionmaker, session_scope
from server.devices.endpoints import router as devices_router
from server.errors import document_errors, install_error_handlers
from server.items.endpoints import router as items_router
from server.models import utc_now
from server.people.endpoints import router as people_router
from server.plans.endpoints import router as plans_router
from server.sites.endpoints import router as sites_router
from server.specimens.endpoints import router as specimens_router
from web.pages import STATIC_DIR
from web.pages import router as pages_router
from web.routes import install as install_web
from web.security import SecurityHeaders

logger = logging.getLogger("handoff")

DESCRIPTION = """
Handoff keeps the chain of custody of a county medical consortium's specimen boxes and
instrument packs. People log in at `POST /api/v1/auth/token`; edge agents use their device
token. Every error is JSON: `{"error": <kind>, "detail": <what is wrong>}`.
"""


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they declare a size.

    A declared Content-Length is checked up front (the HTTP server never delivers more than
    it declares). A chunked body is read up to the limit before the app sees it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": "PayloadTooLarge", "detail": f"request body over {self.limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _sweep_alerts(app: FastAPI, settings: Settings) -> None:
    """Raise time-based alerts (limits at risk, stale one-sided handoffs, overdue sets)."""
    from server.sweeps import sweep

    def once() -> None:
        with session_scope(app.state.sessionmaker) as session:
            sweep(session, utc_now(), settings)

    while True:
        await asyncio.sleep(settings.alert_sweep_seconds)
        try:
            await asyncio.to_thread(once)
        except Exception:  # a sweep that fails (database away) must not stop the next one
            logger.exception("alert sweep failed")


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


@functools.cache
def _api_router() -> APIRouter:
    """The API's routes under ``/api/v1``, gathered once per process: gathering them builds
    every route's dependency tree, which cost a server and each test's app about 0.19 s."""
    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        sites_router,
        people_router,
        devices_router,
        items_router,
        custody_router,
        cssd_router,
        specimens_router,
        plans_router,
    ):
        api.include_router(router)
    return api


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database_url, echo=settings.log_sql)
        app.state.engine = engine
        app.state.sessionmaker = build_sessionmaker(engine)
        await asyncio.to_thread(dummy_hash)
        sweeper = (
            asyncio.create_task(_sweep_alerts(app, settings))
            if settings.alert_sweep_seconds
            else None
        )
        # Everything loaded so far (modules, routes, schemas) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it (~ms pauses
        # that showed up as tail latency on every endpoint).
        gc.collect()
        gc.freeze()
        # The route planner's worker processes start now, in the background, rather than
        # with the first plan, which would lose their start-up (~0.3 s) from its time.
        warming = (
            asyncio.create_task(asyncio.to_thread(portfolio.warm, settings.plan_workers))
            if settings.plan_workers > 1
            else None
        )
        yield
        if sweeper is not None:
            sweeper.cancel()
        engine.dispose()
        if warming is not None:
            await warming
        portfolio.shutdown()

    app = FastAPI(
        title="Handoff",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(
        settings.login_max_failures,
        settings.login_max_failures_per_client,
        settings.login_window_seconds,
    )
    url = make_url(settings.database_url)
    app.state.database_label = f"{url.get_backend_name()} ({url.database})"
    install_error_handlers(app)

    app.include_router(_api_router())
    app.include_router(pages_router)
    install_web(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document, built once, with the error bodies the handlers really send."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> Any:
    """Entry point for ``uvicorn --factory server.app:app_from_env``."""
    return create_app()
