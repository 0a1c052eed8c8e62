"""deliveries queued (pending or retrying), by council

The worker's round finds the councils with work queued through it, and locks only their
breakers (docs/decisions/0040).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status IN ('pending', 'retrying')")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_queued",
        "deliveries",
        ["council"],
        sqlite_where=_QUEUED,
        postgresql_where=_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_queued", table_name="deliveries")
