"""specimen transport

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 21:15:57.476846
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The laboratory edits these afterwards; the migration only seeds the starting table.
from server.specimens.rules import DEFAULT_SPECIMEN_TYPES

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "specimen_types",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("time_limit_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "temperature_class",
            sa.Enum(
                "ambient",
                "chilled",
                "frozen",
                name="temperatureclass",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("destination_kind", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specimen_types")),
        sa.UniqueConstraint("code", name=op.f("uq_specimen_types_code")),
    )
    op.create_table(
        "trips",
        sa.Column("barcode", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("courier_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle", sa.String(length=64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["courier_id"], ["people.id"], name=op.f("fk_trips_courier_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trips")),
        sa.UniqueConstraint("barcode", name=op.f("uq_trips_barcode")),
    )
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.create_index("ix_trips_day_courier", ["day", "courier_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "time_limit_risk",
                "time_limit_exceeded",
                "temperature_excursion",
                "seal_broken",
                "one_sided_handoff",
                "wrong_destination",
                "discrepancy",
                name="alertkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_alerts_item_id_items")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_alerts_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_open", ["closed_at", "id"], unique=False)

    op.create_table(
        "boxes",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("specimen_type_id", sa.Uuid(), nullable=True),
        sa.Column("origin_site_id", sa.Uuid(), nullable=True),
        sa.Column("destination_site_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column(
            "tubes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seal", sa.String(length=64), nullable=True),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("trip_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["destination_site_id"], ["sites.id"], name=op.f("fk_boxes_destination_site_id_sites")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_boxes_item_id_items")),
        sa.ForeignKeyConstraint(
            ["origin_site_id"], ["sites.id"], name=op.f("fk_boxes_origin_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["specimen_type_id"],
            ["specimen_types.id"],
            name=op.f("fk_boxes_specimen_type_id_specimen_types"),
        ),
        sa.ForeignKeyConstraint(["trip_id"], ["trips.id"], name=op.f("fk_boxes_trip_id_trips")),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_boxes")),
    )
    with op.batch_alter_table("boxes", schema=None) as batch_op:
        batch_op.create_index("ix_boxes_deadline", ["deadline"], unique=False)

    op.create_table(
        "discrepancies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trip_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "missing",
                "extra",
                "misrouted",
                name="discrepancykind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "explained",
                "resolved",
                name="discrepancystate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("resolved_by_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_discrepancies_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["people.id"], name=op.f("fk_discrepancies_resolved_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_discrepancies_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["trips.id"], name=op.f("fk_discrepancies_trip_id_trips")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancies")),
    )
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discrepancies_trip_id"), ["trip_id"], unique=False)

    op.create_table(
        "handoff_legs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("giver_id", sa.Uuid(), nullable=True),
        sa.Column("taker_id", sa.Uuid(), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["giver_id"], ["people.id"], name=op.f("fk_handoff_legs_giver_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_handoff_legs_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_handoff_legs_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["taker_id"], ["people.id"], name=op.f("fk_handoff_legs_taker_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_legs")),
    )
    with op.batch_alter_table("handoff_legs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoff_legs_item_id"), ["item_id"], unique=False)
        batch_op.create_index("ix_handoff_legs_open", ["confirmed", "opened_at"], unique=False)

    op.create_table(
        "trip_stops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trip_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("planned_arrival", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_trip_stops_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["trips.id"], name=op.f("fk_trip_stops_trip_id_trips")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trip_stops")),
    )
    with op.batch_alter_table("trip_stops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trip_stops_trip_id"), ["trip_id"], unique=False)

    op.create_table(
        "manifest_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trip_id", sa.Uuid(), nullable=False),
        sa.Column("stop_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("pickup", "drop", name="manifestaction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "done_position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_manifest_lines_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["trip_stops.id"], name=op.f("fk_manifest_lines_stop_id_trip_stops")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["trips.id"], name=op.f("fk_manifest_lines_trip_id_trips")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifest_lines")),
    )
    with op.batch_alter_table("manifest_lines", schema=None) as batch_op:
        batch_op.create_index("ix_manifest_lines_item", ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_manifest_lines_trip_id"), ["trip_id"], unique=False)

    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_offset_ms", sa.Integer(), nullable=True))

    specimen_types = sa.table(
        "specimen_types",
        sa.column("id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("name_zh", sa.String()),
        sa.column("name_en", sa.String()),
        sa.column("time_limit_minutes", sa.Integer()),
        sa.column("temperature_class", sa.String()),
        sa.column("destination_kind", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.bulk_insert(
        specimen_types,
        [
            {
                "id": uuid.uuid4(),
                "code": row.code,
                "name_zh": row.name_zh,
                "name_en": row.name_en,
                "time_limit_minutes": row.time_limit_minutes,
                "temperature_class": row.temperature_class.value,
                "destination_kind": row.destination_kind,
                "created_at": now,
            }
            for row in DEFAULT_SPECIMEN_TYPES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_column("clock_offset_ms")

    with op.batch_alter_table("manifest_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_lines_trip_id"))
        batch_op.drop_index("ix_manifest_lines_item")

    op.drop_table("manifest_lines")
    with op.batch_alter_table("trip_stops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trip_stops_trip_id"))

    op.drop_table("trip_stops")
    with op.batch_alter_table("handoff_legs", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_legs_open")
        batch_op.drop_index(batch_op.f("ix_handoff_legs_item_id"))

    op.drop_table("handoff_legs")
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_discrepancies_trip_id"))

    op.drop_table("discrepancies")
    with op.batch_alter_table("boxes", schema=None) as batch_op:
        batch_op.drop_index("ix_boxes_deadline")

    op.drop_table("boxes")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_open")

    op.drop_table("alerts")
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index("ix_trips_day_courier")

    op.drop_table("trips")
    op.drop_table("specimen_types")
