"""unresolved council names: unroutable rows by name and role, deliveries' council role

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The role each waiting row had, read from its episode as it stands (rows written before the
# role was kept): the placing authority of a looked-after child is `responsible`, the other
# council of a looked-after child its `host`, any council of a child not looked after `home`.
_BACKFILL_ROLE = """
UPDATE unroutable SET role = CASE
    WHEN (SELECT looked_after FROM episodes WHERE episodes.id = unroutable.episode_id)
    THEN CASE
        WHEN unroutable.council = (
            SELECT responsible_council FROM episodes WHERE episodes.id = unroutable.episode_id
        ) THEN 'responsible'
        ELSE 'host'
    END
    ELSE 'home'
END
WHERE role IS NULL
"""


def upgrade() -> None:
    # SQLite rebuilds `episodes` to drop its NOT NULL (env.py checks the keys afterwards).
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.alter_column("home_council", existing_type=sa.String(length=3), nullable=True)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("council_role", sa.String(length=16), nullable=True))
    with op.batch_alter_table("unroutable", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch_op.alter_column("council", existing_type=sa.String(length=3), nullable=True)
        batch_op.create_index(batch_op.f("ix_unroutable_episode_id"), ["episode_id"])
    op.execute(_BACKFILL_ROLE)
    with op.batch_alter_table("unroutable", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(
            "ck_unroutable_council_or_name", "council IS NOT NULL OR name IS NOT NULL"
        )


def downgrade() -> None:
    # Fails, as it should, while a name waits unresolved or an episode has no home council.
    with op.batch_alter_table("unroutable", schema=None) as batch_op:
        batch_op.drop_constraint("ck_unroutable_council_or_name", type_="check")
        batch_op.drop_index(batch_op.f("ix_unroutable_episode_id"))
        batch_op.alter_column("council", existing_type=sa.String(length=3), nullable=False)
        batch_op.drop_column("role")
        batch_op.drop_column("name")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("council_role")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.alter_column("home_council", existing_type=sa.String(length=3), nullable=False)
