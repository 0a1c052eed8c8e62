"""each council's circuit breaker, shared by every worker process

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:30:00
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breakers",
        sa.Column("council", sa.String(length=3), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("prev_calls", sa.Integer(), nullable=False),
        sa.Column("prev_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=True),
        sa.Column("open_s", sa.Float(), nullable=False),
        sa.Column("openings", sa.Integer(), nullable=False),
        sa.Column("probe_ok", sa.Integer(), nullable=False),
        sa.Column("probe_failed", sa.Integer(), nullable=False),
        sa.Column("held_at", UtcDateTime(), nullable=True),
        sa.Column("hold_s", sa.Float(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("council", name=op.f("pk_breakers")),
    )


def downgrade() -> None:
    op.drop_table("breakers")
