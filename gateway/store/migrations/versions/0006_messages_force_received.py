"""an index of each force's messages by reception time, for GET /v1/receipts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 13:30:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_force_received", "messages", ["force", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_force_received", table_name="messages")
