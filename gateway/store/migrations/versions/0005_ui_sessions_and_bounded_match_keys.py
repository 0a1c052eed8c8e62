"""server-side /ui sessions; child match keys longer than their column kept as a hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

import hashlib

import sqlalchemy as sa
from alembic import op

from gateway.store.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MAX_MATCH_KEY = 300  # as gateway.episodes.match_key bounds them from now on


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_ui_sessions_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_sessions")),
    )
    with op.batch_alter_table("ui_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ui_sessions_key_id"), ["key_id"])
        batch_op.create_index(batch_op.f("ix_ui_sessions_expires_at"), ["expires_at"])
    _hash_long_match_keys()


def _hash_long_match_keys() -> None:
    # SQLite never enforced the column's length, so a longer key may have been stored there
    # (PostgreSQL refused the message). The same child must keep matching: store the key as
    # the code now computes it.
    children = sa.table("children", sa.column("id", sa.String), sa.column("match_key", sa.String))
    connection = op.get_bind()
    long_keys = connection.execute(
        sa.select(children.c.id, children.c.match_key).where(
            sa.func.length(children.c.match_key) > MAX_MATCH_KEY
        )
    ).all()
    for row in long_keys:
        digest = hashlib.sha256(row.match_key.encode("ascii")).hexdigest()
        connection.execute(
            children.update()
            .where(children.c.id == row.id)
            .values(match_key=f"sha256:{digest}")
        )


def downgrade() -> None:
    with op.batch_alter_table("ui_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ui_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_ui_sessions_key_id"))
    op.drop_table("ui_sessions")
