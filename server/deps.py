"""Annotated dependencies that keep routers thin: session, settings, caller, roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server.auth.service import BADGE_HEADER, Principal, acting_for_badge, authenticate
from server.config import Settings
from server.db import read_scope, session_scope
from server.enums import Role
from server.errors import NotAuthenticated, NotPermitted
from server.models import Person, utc_now

T = TypeVar("T")
READERS: tuple[Role, ...] = tuple(Role)

# Dependencies that do no I/O are ``async def``: FastAPI runs them on the event loop
# instead of handing each to the thread pool, a thread hop saved per dependency per request.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, else rolled back."""
    with session_scope(request.app.state.sessionmaker) as session:
        yield session


async def get_now() -> datetime:
    return utc_now()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# "function" scope: commit before the response is sent, so a client never hears "stored"
# about a transaction that is not yet (or never) committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]

_bearer = HTTPBearer(auto_error=False, description="A person's login token or a device token")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("missing bearer token (Authorization: Bearer <token>)")
    return credentials.credentials


def get_principal(
    session: SessionDep,
    now: NowDep,
    credentials: BearerCredentials,
) -> Principal:
    return authenticate(session, _bearer_token(credentials), now)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_principal_briefly(
    request: Request,
    now: NowDep,
    credentials: BearerCredentials,
) -> Principal:
    """Authenticate in a session of its own, closed at once: for long-lived responses
    (event streams) that must not hold a database transaction open."""
    token = _bearer_token(credentials)
    with request.app.state.sessionmaker() as session:
        principal = authenticate(session, token, now)
        session.commit()
    return principal


StreamReader = Annotated[Principal, Depends(get_principal_briefly)]


def require_person(*roles: Role) -> Callable[[Principal], Awaitable[Person]]:
    """A dependency that admits a logged-in person with one of ``roles`` (admin always)."""
    allowed = frozenset(roles) | {Role.admin}

    async def dependency(principal: CurrentPrincipal) -> Person:
        if principal.person is None:
            raise NotPermitted("this action needs a person's login, not a device token")
        if roles and principal.person.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise NotPermitted(f"role {principal.person.role} may not do this (needs: {names})")
        return principal.person

    return dependency


def require_person_or_station(*roles: Role) -> Callable[..., Person]:
    """Like ``require_person``, but a station's device token may also act for the person whose
    badge was scanned at it, named in the ``X-Handoff-Badge`` header (see
    ``server.auth.service.acting_for_badge``: active, an allowed role, the device's site)."""
    allowed = frozenset(roles) | {Role.admin}

    def dependency(
        session: SessionDep,
        principal: CurrentPrincipal,
        badge: Annotated[
            str | None,
            Header(
                alias=BADGE_HEADER,
                description=(
                    "With a device token: the badge of the person at the station, who is then "
                    "the actor (active, an allowed role, home site = the device's site). "
                    "Not used with a person's login."
                ),
            ),
        ] = None,
    ) -> Person:
        if principal.device is None:
            if badge is not None:
                raise NotPermitted(f"{BADGE_HEADER} is for device tokens, not a person's login")
            assert principal.person is not None
            if principal.person.role not in allowed:
                names = ", ".join(sorted(role.value for role in allowed))
                raise NotPermitted(f"role {principal.person.role} may not do this (needs: {names})")
            return principal.person
        return acting_for_badge(session, principal.device, badge, allowed)

    return dependency


def admit(principal: Principal, roles: Collection[Role], *, devices: bool = False) -> Principal:
    """``principal`` if it is a person with one of ``roles`` (admin always; any role when
    ``roles`` is empty) or, with ``devices``, a device; else NotPermitted."""
    if principal.device is not None:
        if devices:
            return principal
        raise NotPermitted("devices may not do this")
    assert principal.person is not None
    allowed = frozenset(roles) | {Role.admin}
    if roles and principal.person.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise NotPermitted(f"role {principal.person.role} may not do this (needs: {names})")
    return principal


def allow(*roles: Role, devices: bool = False) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits people with ``roles`` (admin always) and, if asked, devices."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        return admit(principal, roles, devices=devices)

    return dependency


async def read_in_one_hop(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    work: Callable[[Session], T],
    *,
    roles: Collection[Role] = READERS,
    devices: bool = True,
) -> T:
    """Authenticate, admit and run ``work`` in one session, in one trip to the thread pool.

    For the hottest reads (a custody chain is looked up at every scan of a timeline): the
    usual dependencies (session, caller, role) each cost a thread-pool hop and their share
    of FastAPI's dependency solving, together more than the query itself. Same rules, same
    errors; the route declares ``BearerCredentials`` so the document names the scheme.
    """
    token = _bearer_token(credentials)
    factory = request.app.state.sessionmaker

    def run() -> T:
        with read_scope(factory) as session:
            admit(authenticate(session, token, utc_now()), roles, devices=devices)
            return work(session)

    return await run_in_threadpool(run)


AdminUser = Annotated[Person, Depends(require_person(Role.admin))]
AnyPerson = Annotated[Person, Depends(require_person())]
Reader = Annotated[Principal, Depends(allow(*READERS, devices=True))]
