"""sterile supply

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:03:53.372139
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "set_templates",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column(
            "instruments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "packaging_material",
            sa.Enum(
                "textile",
                "paper_bag",
                "crepe_paper",
                "nonwoven",
                "paper_plastic_pouch",
                "rigid_container",
                name="material",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "method",
            sa.Enum("steam", "low_temperature", name="method", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("implant", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_set_templates")),
        sa.UniqueConstraint("code", name=op.f("uq_set_templates_code")),
    )
    op.create_table(
        "machines",
        sa.Column("barcode", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("washer", "sterilizer", name="machinekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "method",
            sa.Enum("steam", "low_temperature", name="method", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("prevacuum", sa.Boolean(), nullable=False),
        sa.Column("special_pathogen", sa.Boolean(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "in_service",
                "out_of_service",
                "requalifying",
                name="machinestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("requalification_passes", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_machines_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machines")),
        sa.UniqueConstraint("barcode", name=op.f("uq_machines_barcode")),
        sa.UniqueConstraint("code", name=op.f("uq_machines_code")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_notifications_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_site_id"), ["site_id"], unique=False)

    op.create_table(
        "cycles",
        sa.Column("barcode", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("wash", "sterilization", name="cyclekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("machine_id", sa.Uuid(), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "building",
                "running",
                "unloaded",
                "released",
                "passed",
                "failed",
                "aborted",
                name="cyclestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "unload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("implant", sa.Boolean(), nullable=False),
        sa.Column("bi_required", sa.Boolean(), nullable=False),
        sa.Column("bi_passed", sa.Boolean(), nullable=True),
        sa.Column("released_by_id", sa.Uuid(), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "emergency_release",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_cycles_machine_id_machines")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["people.id"], name=op.f("fk_cycles_operator_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["released_by_id"], ["people.id"], name=op.f("fk_cycles_released_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycles")),
        sa.UniqueConstraint("barcode", name=op.f("uq_cycles_barcode")),
        sa.UniqueConstraint("number", name=op.f("uq_cycles_number")),
    )
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cycles_machine_started", ["machine_id", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cycles_status"), ["status"], unique=False)

    op.create_table(
        "cycle_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_cycle_items_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_cycle_items_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_items")),
        sa.UniqueConstraint("cycle_id", "item_id", name=op.f("uq_cycle_items_cycle_id")),
    )
    with op.batch_alter_table("cycle_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cycle_items_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(
            "uq_cycle_items_active_item",
            ["item_id"],
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        )

    op.create_table(
        "gs1_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hri", sa.String(length=200), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("serial", sa.String(length=30), nullable=True),
        sa.Column("giai", sa.String(length=30), nullable=True),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_gs1_links_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gs1_links")),
        sa.UniqueConstraint("hri", name=op.f("uq_gs1_links_hri")),
    )
    with op.batch_alter_table("gs1_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gs1_links_item_id"), ["item_id"], unique=False)

    op.create_table(
        "machine_tests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("machine_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "bowie_dick", "biological_indicator", name="testkind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("performed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=True),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_machine_tests_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_machine_tests_machine_id_machines")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["people.id"], name=op.f("fk_machine_tests_operator_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_tests")),
    )
    with op.batch_alter_table("machine_tests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_machine_tests_machine_kind_at", ["machine_id", "kind", "performed_at"], unique=False
        )

    op.create_table(
        "set_assets",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("loaner", sa.Boolean(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("loaner_tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaner_returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("special_pathogen", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("cycles_done", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_set_assets_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["set_templates.id"],
            name=op.f("fk_set_assets_template_id_set_templates"),
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_set_assets")),
    )
    with op.batch_alter_table("set_assets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_set_assets_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "recalls",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("machine_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_test_id", sa.Uuid(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_recalls_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machines.id"], name=op.f("fk_recalls_machine_id_machines")
        ),
        sa.ForeignKeyConstraint(
            ["trigger_test_id"],
            ["machine_tests.id"],
            name=op.f("fk_recalls_trigger_test_id_machine_tests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
        sa.UniqueConstraint("number", name=op.f("uq_recalls_number")),
    )
    op.create_table(
        "packs",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("set_item_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("packer_id", sa.Uuid(), nullable=False),
        sa.Column("checker_id", sa.Uuid(), nullable=False),
        sa.Column(
            "packaging_material",
            sa.Enum(
                "textile",
                "paper_bag",
                "crepe_paper",
                "nonwoven",
                "paper_plastic_pouch",
                "rigid_container",
                name="material",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "storage_condition",
            sa.Enum(
                "compliant", "non_compliant", name="storagecondition", native_enum=False, length=32
            ),
            nullable=True,
        ),
        sa.Column("packed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destination_site_id", sa.Uuid(), nullable=True),
        sa.Column("load_id", sa.Uuid(), nullable=True),
        sa.Column("sterilized_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recall_id", sa.Uuid(), nullable=True),
        sa.Column("label_prints", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checker_id"], ["people.id"], name=op.f("fk_packs_checker_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["destination_site_id"], ["sites.id"], name=op.f("fk_packs_destination_site_id_sites")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_packs_item_id_items")),
        sa.ForeignKeyConstraint(["load_id"], ["cycles.id"], name=op.f("fk_packs_load_id_cycles")),
        sa.ForeignKeyConstraint(
            ["packer_id"], ["people.id"], name=op.f("fk_packs_packer_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["recall_id"], ["recalls.id"], name=op.f("fk_packs_recall_id_recalls")
        ),
        sa.ForeignKeyConstraint(
            ["set_item_id"], ["items.id"], name=op.f("fk_packs_set_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["set_templates.id"], name=op.f("fk_packs_template_id_set_templates")
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_packs")),
    )
    with op.batch_alter_table("packs", schema=None) as batch_op:
        batch_op.create_index("ix_packs_expires_on", ["expires_on"], unique=False)
        batch_op.create_index("ix_packs_load_id", ["load_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_packs_set_item_id"), ["set_item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("packs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packs_set_item_id"))
        batch_op.drop_index("ix_packs_load_id")
        batch_op.drop_index("ix_packs_expires_on")

    op.drop_table("packs")
    op.drop_table("recalls")
    with op.batch_alter_table("set_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_set_assets_template_id"))

    op.drop_table("set_assets")
    with op.batch_alter_table("machine_tests", schema=None) as batch_op:
        batch_op.drop_index("ix_machine_tests_machine_kind_at")

    op.drop_table("machine_tests")
    with op.batch_alter_table("gs1_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gs1_links_item_id"))

    op.drop_table("gs1_links")
    with op.batch_alter_table("cycle_items", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cycle_items_active_item",
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        )
        batch_op.drop_index(batch_op.f("ix_cycle_items_cycle_id"))

    op.drop_table("cycle_items")
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cycles_status"))
        batch_op.drop_index("ix_cycles_machine_started")

    op.drop_table("cycles")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_site_id"))

    op.drop_table("notifications")
    op.drop_table("machines")
    op.drop_table("set_templates")
