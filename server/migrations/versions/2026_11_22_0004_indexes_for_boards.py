"""indexes for the boards: items by kind and state, packs by recall

Revision 0002 as first written dropped the items indexes of 0001 (autogenerate did not
know them); they are created again here where missing, for databases made with it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_items_kind_state ON items (kind, state)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_items_current_site_id ON items (current_site_id)")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_packs_recall_id ON packs (recall_id) "
        "WHERE recall_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_packs_recall_id")
