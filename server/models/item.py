"""Items whose custody is tracked, with their current state (a projection of the ledger)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.enums import ItemKind
from server.models.base import RecordModel


class Item(RecordModel):
    """A specimen box, a reusable instrument set or a pack.

    The columns below ``home_site_id`` are the projection: they are rebuilt from the
    ledger by folding its events, and ingest keeps them current in the same transaction.
    """

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_kind_state", "kind", "state"),
        Index("ix_items_current_site_id", "current_site_id"),
    )

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[ItemKind] = mapped_column(Enum(ItemKind, native_enum=False, length=32))
    description: Mapped[str] = mapped_column(String(200), default="")
    home_site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)

    state: Mapped[str] = mapped_column(String(40))
    last_seq: Mapped[int] = mapped_column(default=0)
    last_position: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    current_site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), default=None)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    open_flags: Mapped[int] = mapped_column(default=0)
