"""People: staff who log in or scan their badge."""

from __future__ import annotations

import uuid

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.enums import Role
from server.models.base import RecordModel


class Person(RecordModel):
    __tablename__ = "people"

    badge: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    home_site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    username: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    active: Mapped[bool] = mapped_column(default=True)
