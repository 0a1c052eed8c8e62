"""deliveries by (status, lease_until), and the `sent` ones by council

The claim's expired leases and the in-flight counts read the first, the acknowledgement poll
the second (docs/decisions/0039).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SENT = sa.text("status = 'sent'")


def upgrade() -> None:
    op.create_index("ix_deliveries_lease", "deliveries", ["status", "lease_until"])
    op.create_index(
        "ix_deliveries_sent", "deliveries", ["council"], sqlite_where=_SENT, postgresql_where=_SENT
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_sent", table_name="deliveries")
    op.drop_index("ix_deliveries_lease", table_name="deliveries")
