"""Logging people in and resolving bearer tokens to a principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth.secrets import (
    DEVICE_TOKEN_PREFIX,
    PERSON_TOKEN_PREFIX,
    new_token,
    token_digest,
    verify_password,
)
from server.enums import Role
from server.errors import NotAuthenticated
from server.models import AccessToken, Device, Person


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


def authenticate(session: Session, token: str, now: datetime) -> Principal:
    """Resolve a bearer token; raise NotAuthenticated with the reason otherwise."""
    digest = token_digest(token)
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = session.execute(
            select(Device).where(Device.token_hash == digest)
        ).scalar_one_or_none()
        if device is None or not device.active:
            raise NotAuthenticated("unknown or revoked device token")
        return Principal(device=device)
    if token.startswith(PERSON_TOKEN_PREFIX):
        row = session.execute(
            select(AccessToken, Person)
            .join(Person, Person.id == AccessToken.person_id)
            .where(AccessToken.token_hash == digest)
        ).one_or_none()
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
