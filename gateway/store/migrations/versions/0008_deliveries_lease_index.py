"""deliveries by (status, lease_until): the claim's expired leases and the in-flight counts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 22:40:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_lease", "deliveries", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_lease", table_name="deliveries")
