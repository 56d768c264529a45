"""route plans: one solve of a day's courier work, its progress and result

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "route_plans",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "solving",
                "done",
                "failed",
                "superseded",
                name="planstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("time_limit", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("travel_minutes", sa.Float(), nullable=True),
        sa.Column("work", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.Column("trips", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["people.id"],
            name=op.f("fk_route_plans_requested_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["route_plans.id"], name=op.f("fk_route_plans_replaces_id_route_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_plans")),
    )
    with op.batch_alter_table("route_plans", schema=None) as batch_op:
        batch_op.create_index("ix_route_plans_day", ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("route_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_route_plans_day")
    op.drop_table("route_plans")
