"""Maintaining staff: roles, badges, logins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from labels.identity import Kind, new_id
from server import audit
from server.auth.secrets import hash_password
from server.enums import Role
from server.errors import Conflict, Unprocessable
from server.lookup import site_by_ref
from server.models import Person
from server.people.schemas import PersonCreate, PersonUpdate


def list_people(session: Session, role: Role | None = None) -> Sequence[Person]:
    query = select(Person).order_by(Person.name)
    if role is not None:
        query = query.where(Person.role == role)
    return session.execute(query).scalars().all()


def create_person(
    session: Session, actor: Person | None, data: PersonCreate, *, password_hash: str | None = None
) -> Person:
    """Add a person (audited). ``password_hash``, when given, is the Argon2 hash of
    ``data.password`` made once by the caller for many people (the demo county's shared
    password: 31 hashes were 6 of its 9 seconds)."""
    if (
        data.username
        and session.execute(select(Person.id).where(Person.username == data.username)).first()
    ):
        raise Conflict(f"the username {data.username} is taken")
    if data.password and not data.username:
        raise Unprocessable("a password needs a username to log in with")
    home = site_by_ref(session, data.home_site) if data.home_site else None
    person = Person(
        badge=new_id(Kind.PERSON),
        name=data.name,
        role=data.role,
        home_site_id=home.id if home else None,
        username=data.username,
        password_hash=(password_hash or hash_password(data.password)) if data.password else None,
        phone=data.phone,
    )
    session.add(person)
    session.flush()
    audit.record(
        session,
        actor,
        "person.create",
        "person",
        person.badge,
        data.model_dump(mode="json", exclude={"password"}),
    )
    return person


def update_person(
    session: Session, actor: Person | None, person: Person, data: PersonUpdate
) -> Person:
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if name == "password":
            if value is not None and not person.username:
                raise Unprocessable("this person has no username to log in with")
            person.password_hash = hash_password(value) if value else None
        elif name == "home_site":
            person.home_site_id = site_by_ref(session, value).id if value else None
        elif value is None and name in {"name", "role", "active"}:
            raise Unprocessable(f"{name} cannot be empty")
        else:
            setattr(person, name, value)
    session.flush()
    logged = {
        k: v for k, v in data.model_dump(mode="json", exclude_unset=True).items() if k != "password"
    }
    if "password" in changes:
        logged["password"] = "changed"
    audit.record(session, actor, "person.update", "person", person.badge, logged)
    return person
