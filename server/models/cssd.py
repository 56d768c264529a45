"""Sterile supply: set templates and assets, machines, their tests, cycles, packs and recalls.

These tables hold what the CSSD records beside the ledger: every change to them is made in
the same unit of work as the custody events that justify it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from server.cssd.rules import (
    CycleKind,
    CycleStatus,
    MachineKind,
    MachineStatus,
    Material,
    Method,
    StorageCondition,
    TestKind,
)
from server.models.base import Base, JSONType, RecordModel, utc_now


def _enum(kind: type[Any]) -> Enum:
    return Enum(kind, native_enum=False, length=32)


class SetTemplate(RecordModel):
    """What a kind of instrument set contains and how it is processed."""

    __tablename__ = "set_templates"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    instruments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    packaging_material: Mapped[Material] = mapped_column(_enum(Material))
    method: Mapped[Method] = mapped_column(_enum(Method))
    implant: Mapped[bool] = mapped_column(default=False)


class SetAsset(Base):
    """A reusable set (an item of kind instrument_set) and what the CSSD knows about it."""

    __tablename__ = "set_assets"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), primary_key=True)
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("set_templates.id"), index=True)
    loaner: Mapped[bool] = mapped_column(default=False)
    supplier: Mapped[str | None] = mapped_column(String(200), default=None)
    loaner_tested_at: Mapped[datetime | None] = mapped_column(default=None)
    loaner_returned_at: Mapped[datetime | None] = mapped_column(default=None)
    special_pathogen: Mapped[bool] = mapped_column(default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text, default=None)
    cycles_done: Mapped[int] = mapped_column(default=0)


class Gs1Link(Base):
    """A manufacturer's GS1 code (GTIN + serial, or GIAI) linked to an internal set."""

    __tablename__ = "gs1_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    hri: Mapped[str] = mapped_column(String(200), unique=True)
    gtin: Mapped[str | None] = mapped_column(String(14), default=None)
    serial: Mapped[str | None] = mapped_column(String(30), default=None)
    giai: Mapped[str | None] = mapped_column(String(30), default=None)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utc_now)


class Machine(RecordModel):
    """A washer-disinfector or a sterilizer."""

    __tablename__ = "machines"

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[MachineKind] = mapped_column(_enum(MachineKind))
    method: Mapped[Method | None] = mapped_column(_enum(Method), default=None)
    prevacuum: Mapped[bool] = mapped_column(default=False)
    special_pathogen: Mapped[bool] = mapped_column(default=False)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    status: Mapped[MachineStatus] = mapped_column(
        _enum(MachineStatus), default=MachineStatus.in_service
    )
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    requalification_passes: Mapped[int] = mapped_column(default=0)


class MachineTest(Base):
    """A Bowie-Dick test or a biological indicator result, kept for years."""

    __tablename__ = "machine_tests"
    __table_args__ = (
        Index("ix_machine_tests_machine_kind_at", "machine_id", "kind", "performed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    machine_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("machines.id"))
    kind: Mapped[TestKind] = mapped_column(_enum(TestKind))
    passed: Mapped[bool]
    performed_at: Mapped[datetime]
    local_day: Mapped[date]
    cycle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cycles.id"), default=None)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    lot: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class Cycle(RecordModel):
    """A washer cycle or a sterilizer load, from building to release or failure."""

    __tablename__ = "cycles"
    __table_args__ = (Index("ix_cycles_machine_started", "machine_id", "started_at"),)

    barcode: Mapped[str] = mapped_column(String(16), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[CycleKind] = mapped_column(_enum(CycleKind))
    machine_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("machines.id"))
    program: Mapped[str] = mapped_column(String(64))
    status: Mapped[CycleStatus] = mapped_column(_enum(CycleStatus), index=True)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    implant: Mapped[bool] = mapped_column(default=False)
    bi_required: Mapped[bool] = mapped_column(default=False)
    bi_passed: Mapped[bool | None] = mapped_column(default=None)
    released_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    emergency_release: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)


class CycleItem(Base):
    """A set in a washer cycle or a pack in a load. ``active`` while the cycle is open."""

    __tablename__ = "cycle_items"
    __table_args__ = (
        UniqueConstraint("cycle_id", "item_id"),
        # A pack or set is in at most one open cycle: the database enforces it too.
        Index(
            "uq_cycle_items_active_item",
            "item_id",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"))
    active: Mapped[bool] = mapped_column(default=True)
    added_at: Mapped[datetime] = mapped_column(default=utc_now)


class Pack(Base):
    """One processing cycle of a set: an item of kind pack and its label data."""

    __tablename__ = "packs"
    __table_args__ = (
        Index("ix_packs_expires_on", "expires_on"),
        Index("ix_packs_load_id", "load_id"),
        # Few packs are ever recalled: a partial index finds a recall's packs at once.
        Index(
            "ix_packs_recall_id",
            "recall_id",
            postgresql_where=text("recall_id IS NOT NULL"),
            sqlite_where=text("recall_id IS NOT NULL"),
        ),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), primary_key=True)
    set_item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id"), index=True)
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("set_templates.id"))
    packer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    checker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    packaging_material: Mapped[Material] = mapped_column(_enum(Material))
    storage_condition: Mapped[StorageCondition | None] = mapped_column(
        _enum(StorageCondition), default=None
    )
    packed_at: Mapped[datetime]
    destination_site_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sites.id"), default=None
    )
    load_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cycles.id"), default=None)
    sterilized_on: Mapped[date | None] = mapped_column(default=None)
    expires_on: Mapped[date | None] = mapped_column(default=None)
    patient_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    recall_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("recalls.id"), default=None)
    label_prints: Mapped[int] = mapped_column(default=0)


class Recall(RecordModel):
    """A recall: the packs of every load on a sterilizer since its last passed BI."""

    __tablename__ = "recalls"

    number: Mapped[str] = mapped_column(String(40), unique=True)
    machine_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("machines.id"))
    trigger_test_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("machine_tests.id"), default=None
    )
    since: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"), default=None)


class Notification(Base):
    """A message to a site's staff (e.g. a recall that concerns packs they hold)."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    kind: Mapped[str] = mapped_column(String(40))
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(64), default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
