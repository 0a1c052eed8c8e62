"""policy flags, the policy timer, an audit index by action, the claim index

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 16:00:00
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_due_at", UtcDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_episodes_policy_due_at"), ["policy_due_at"])
    op.create_table(
        "policy_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("council", sa.String(length=3), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_policy_flags_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_policy_flags_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_flags")),
        sa.UniqueConstraint(
            "episode_id",
            "council",
            "rule",
            "period",
            name=op.f("uq_policy_flags_episode_id_council_rule_period"),
        ),
    )
    with op.batch_alter_table("policy_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_flags_episode_id"), ["episode_id"])
    op.create_index("ix_audit_log_action_subject", "audit_log", ["action", "subject"])
    op.create_index(
        "ix_deliveries_claim", "deliveries", ["status", "priority", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
    op.drop_index("ix_audit_log_action_subject", table_name="audit_log")
    with op.batch_alter_table("policy_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_flags_episode_id"))
    op.drop_table("policy_flags")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_policy_due_at"))
        batch_op.drop_column("policy_due_at")
