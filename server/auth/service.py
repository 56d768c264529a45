"""Logging people in and resolving bearer tokens to a principal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from labels.identity import InvalidId, Kind, parse_id
from server.auth.secrets import (
    DEVICE_TOKEN_PREFIX,
    PERSON_TOKEN_PREFIX,
    new_token,
    token_digest,
    verify_password,
)
from server.auth.throttle import LoginThrottle, TooManyAttempts
from server.enums import Role
from server.errors import NotAuthenticated, NotPermitted
from server.models import AccessToken, Device, Person, Site

logger = logging.getLogger("handoff.auth")

BADGE_HEADER = "X-Handoff-Badge"
ACTING_DEVICE = "handoff.acting_device"  # Session.info key: the device a badge acts through


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person or a device, never both."""

    person: Person | None = None
    device: Device | None = None

    @property
    def role(self) -> Role | None:
        return self.person.role if self.person else None

    def describe(self) -> str:
        if self.person:
            return f"{self.person.name} ({self.person.role})"
        return f"device {self.device.barcode}" if self.device else "nobody"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def login(
    session: Session, username: str, password: str, ttl: timedelta, now: datetime
) -> IssuedToken:
    person = session.execute(select(Person).where(Person.username == username)).scalar_one_or_none()
    ok = verify_password(person.password_hash if person else None, password)
    if person is None or not ok or not person.active:
        raise NotAuthenticated("wrong username or password")
    token = new_token(PERSON_TOKEN_PREFIX)
    expires_at = now + ttl
    session.add(
        AccessToken(token_hash=token_digest(token), person_id=person.id, expires_at=expires_at)
    )
    session.flush()
    return IssuedToken(token, expires_at)


def throttled_login(
    session: Session,
    throttle: LoginThrottle,
    username: str,
    password: str,
    client: str | None,
    ttl: timedelta,
    now: datetime,
) -> IssuedToken:
    """``login``, refused with 429 while this username or client has failed too often."""
    try:
        throttle.check(username, client)
    except TooManyAttempts as refused:
        # The username and address only: never the password, which may be the one tried.
        logger.warning(
            "login throttled for username %r from %s (%s s)",
            username[:64],
            client or "?",
            refused.retry_after,
        )
        raise
    try:
        issued = login(session, username, password, ttl, now)
    except NotAuthenticated:
        throttle.failed(username, client)
        raise
    throttle.succeeded(username)
    return issued


def revoke(session: Session, token: str, now: datetime) -> None:
    """Revoke a person's login token (logging out); later requests with it get 401."""
    session.execute(
        update(AccessToken)
        .where(AccessToken.token_hash == token_digest(token), AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()


# Built once: every request authenticates, and building the statement anew (and its cache
# key) cost more than running it.
_DEVICE_BY_TOKEN = select(Device).where(Device.token_hash == bindparam("digest"))
_PERSON_BY_TOKEN = (
    select(AccessToken, Person)
    .join(Person, Person.id == AccessToken.person_id)
    .where(AccessToken.token_hash == bindparam("digest"))
)


def authenticate(session: Session, token: str, now: datetime) -> Principal:
    """Resolve a bearer token; raise NotAuthenticated with the reason otherwise."""
    digest = token_digest(token)
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = session.execute(_DEVICE_BY_TOKEN, {"digest": digest}).scalar_one_or_none()
        if device is None or not device.active:
            raise NotAuthenticated("unknown or revoked device token")
        return Principal(device=device)
    if token.startswith(PERSON_TOKEN_PREFIX):
        row = session.execute(_PERSON_BY_TOKEN, {"digest": digest}).one_or_none()
        if row is None:
            raise NotAuthenticated("unknown token; log in again")
        access, person = row
        if access.revoked_at is not None:
            raise NotAuthenticated("this token was revoked; log in again")
        if access.expires_at <= now:
            raise NotAuthenticated("this token has expired; log in again")
        if not person.active:
            raise NotAuthenticated("this account is disabled")
        return Principal(person=person)
    raise NotAuthenticated("malformed bearer token")


def acting_for_badge(
    session: Session, device: Device, badge: str | None, allowed: frozenset[Role]
) -> Person:
    """The person a station device acts for: the badge scanned at it (``X-Handoff-Badge``).

    Admitted only if the badge names an active person with one of ``allowed`` roles whose home
    site is the device's site. The person is the actor; the device is kept in
    ``session.info[ACTING_DEVICE]`` so the records the request writes can name it.
    """
    if not badge or not badge.strip():
        raise NotAuthenticated(
            f"a device acts only for the person at the station: send {BADGE_HEADER}: <badge>"
        )
    try:
        code = parse_id(badge.strip(), Kind.PERSON).text
    except InvalidId as error:
        raise NotAuthenticated(f"{BADGE_HEADER} is not a usable badge: {error.reason}") from None
    person = session.execute(select(Person).where(Person.badge == code)).scalar_one_or_none()
    if person is None:
        raise NotAuthenticated(f"no person has the badge {code}")
    if not person.active:
        raise NotAuthenticated(f"the badge {code} belongs to a disabled account")
    if person.home_site_id != device.site_id:
        site = session.get(Site, device.site_id)
        where = site.code if site else "its site"
        raise NotPermitted(
            f"{person.name} ({code}) does not work at {where}, where device {device.barcode} is"
        )
    if person.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise NotPermitted(f"{person.name} ({code}) is {person.role}; this needs: {names}")
    session.info[ACTING_DEVICE] = device
    return person
