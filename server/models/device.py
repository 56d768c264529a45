"""Devices: the edge agents at each site, each with its own hashed token."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import RecordModel


class Device(RecordModel):
    __tablename__ = "devices"

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
