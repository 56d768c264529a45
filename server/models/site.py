"""Sites: the county hospital, its centres and the township clinics."""

from __future__ import annotations

import uuid
from datetime import time

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.enums import SiteKind
from server.models.base import RecordModel


class Site(RecordModel):
    __tablename__ = "sites"

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[SiteKind] = mapped_column(Enum(SiteKind, native_enum=False, length=32))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float]
    longitude: Mapped[float]
    opens_at: Mapped[time] = mapped_column(default=time(8, 0))
    closes_at: Mapped[time] = mapped_column(default=time(17, 30))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
