"""The custody ledger: append-only events and the head of their hash chain.

``CustodyEvent`` derives from the bare ``Base``: it has no ``modified_at`` and no
``deleted_at``, no relationship cascades into it, and no code path updates or deletes it.
On PostgreSQL a trigger (see the migrations) refuses UPDATE and DELETE outright.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, JSONType


class CustodyEvent(Base):
    __tablename__ = "custody_events"
    __table_args__ = (
        UniqueConstraint("item_id", "item_seq", name="uq_custody_events_item_seq"),
        Index("ix_custody_events_occurred_at", "occurred_at"),
    )

    # Gapless global order, assigned under the ledger-head lock; also the consumers' cursor.
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"))
    item_seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    counterparty_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id"))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    details: Mapped[dict[str, Any]]
    schema_version: Mapped[int] = mapped_column(default=1)
    flag_code: Mapped[str | None] = mapped_column(String(40))
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The device's clock error measured when its batch arrived (server − device), if sent.
    clock_offset_ms: Mapped[int | None] = mapped_column(default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """One row: the last position and hash. Locking it serialises appends."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class RejectedSubmission(Base):
    """An event a device sent that was too malformed to enter the ledger, kept as evidence."""

    __tablename__ = "rejected_submissions"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    received_at: Mapped[datetime] = mapped_column(index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    event_id: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text)
