"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:09:27.262783
"""

from alembic import op
import sqlalchemy as sa

from gateway.store.schema import UtcDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('force', sa.String(length=2), nullable=True),
    sa.Column('council', sa.String(length=3), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('revoked_at', UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys'))
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=True),
    sa.Column('entry', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_log_hash'))
    )
    op.create_table('children',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('nhs_number', sa.String(length=10), nullable=True),
    sa.Column('match_key', sa.String(length=300), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_children'))
    )
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_children_match_key'), ['match_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_children_nhs_number'), ['nhs_number'], unique=False)

    op.create_table('episodes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('risk_level', sa.String(length=24), nullable=False),
    sa.Column('looked_after', sa.Boolean(), nullable=False),
    sa.Column('dfe_missing_type', sa.String(length=1), nullable=True),
    sa.Column('home_council', sa.String(length=3), nullable=False),
    sa.Column('responsible_council', sa.String(length=3), nullable=True),
    sa.Column('reported_at', UtcDateTime(), nullable=False),
    sa.Column('found_at', UtcDateTime(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_episodes_child_id_children')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes'))
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episodes_child_id'), ['child_id'], unique=False)
        batch_op.create_index('ix_episodes_child_reported', ['child_id', 'reported_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_home_council'), ['home_council'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_responsible_council'), ['responsible_council'], unique=False)

    op.create_table('case_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('council', sa.String(length=3), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=100), nullable=True),
    sa.Column('case_episode_id', sa.String(length=100), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_case_records_episode_id_episodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_records')),
    sa.UniqueConstraint('episode_id', 'council', name=op.f('uq_case_records_episode_id_council'))
    )
    op.create_table('episode_sources',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('force', sa.String(length=2), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('last_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_episode_sources_episode_id_episodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episode_sources')),
    sa.UniqueConstraint('source', 'force', 'reference', name=op.f('uq_episode_sources_source_force_reference'))
    )
    with op.batch_alter_table('episode_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episode_sources_episode_id'), ['episode_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('force', sa.String(length=2), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('c14n_sha256', sa.String(length=64), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('episode_id', sa.String(length=36), nullable=True),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('receipt', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_messages_episode_id_episodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('source', 'force', 'message_id', name=op.f('uq_messages_source_force_message_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_episode_id'), ['episode_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.String(length=36), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('canonical', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_events_episode_id_episodes')),
    sa.ForeignKeyConstraint(['message_row_id'], ['messages.id'], name=op.f('fk_events_message_row_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('episode_id', 'seq', name=op.f('uq_events_episode_id_seq'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('council', sa.String(length=3), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('deadline_at', UtcDateTime(), nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('attempt_floor', sa.Integer(), nullable=False),
    sa.Column('lease_until', UtcDateTime(), nullable=True),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.Column('delivered_at', UtcDateTime(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('target_reference', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('payload_media_type', sa.String(length=100), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_deliveries_episode_id_episodes')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_deliveries_event_id_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('episode_id', 'council', 'seq', name=op.f('uq_deliveries_episode_id_council_seq')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_deliveries_idempotency_key'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_council_created', ['council', 'created_at'], unique=False)
        batch_op.create_index('ix_deliveries_created', ['created_at'], unique=False)
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_event_id'), ['event_id'], unique=False)

    op.create_table('unroutable',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('message_row_id', sa.String(length=36), nullable=True),
    sa.Column('council', sa.String(length=3), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('resolved_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_unroutable_episode_id_episodes')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_unroutable_event_id_events')),
    sa.ForeignKeyConstraint(['message_row_id'], ['messages.id'], name=op.f('fk_unroutable_message_row_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unroutable')),
    sa.UniqueConstraint('event_id', 'council', name=op.f('uq_unroutable_event_id_council'))
    )
    with op.batch_alter_table('unroutable', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unroutable_council'), ['council'], unique=False)

    op.create_table('ack_cursors',
    sa.Column('council', sa.String(length=3), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('cursor', sa.String(length=200), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('council', name=op.f('pk_ack_cursors'))
    )
    op.create_table('attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('target_reference', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_attempts_delivery_id_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts')),
    sa.UniqueConstraint('delivery_id', 'number', name=op.f('uq_attempts_delivery_id_number'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_delivery_id'), ['delivery_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempts_delivery_id'))

    op.drop_table('attempts')
    op.drop_table('ack_cursors')
    with op.batch_alter_table('unroutable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unroutable_council'))

    op.drop_table('unroutable')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_event_id'))
        batch_op.drop_index('ix_deliveries_due')
        batch_op.drop_index('ix_deliveries_created')
        batch_op.drop_index('ix_deliveries_council_created')

    op.drop_table('deliveries')
    op.drop_table('events')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_episode_id'))

    op.drop_table('messages')
    with op.batch_alter_table('episode_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episode_sources_episode_id'))

    op.drop_table('episode_sources')
    op.drop_table('case_records')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episodes_responsible_council'))
        batch_op.drop_index(batch_op.f('ix_episodes_home_council'))
        batch_op.drop_index('ix_episodes_child_reported')
        batch_op.drop_index(batch_op.f('ix_episodes_child_id'))

    op.drop_table('episodes')
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_children_nhs_number'))
        batch_op.drop_index(batch_op.f('ix_children_match_key'))

    op.drop_table('children')
    op.drop_table('audit_log')
    op.drop_table('api_keys')

