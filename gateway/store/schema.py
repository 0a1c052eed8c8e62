"""The database schema (SQLAlchemy Core), one for SQLite and PostgreSQL.

Alembic migrations in `migrations/` build exactly this; a test compares the two.
Ordering, deduplication and linking are keys and constraints here, not code elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times; store UTC (without offset on SQLite, so text order is time order)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one step to the text SQLAlchemy's DATETIME writes (`sqlite_text`)."""
        if dialect.name == "sqlite":
            return sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


def sqlite_text(value: datetime | None) -> str | None:
    """`value` in UTC as SQLite stores it: SQLAlchemy's DATETIME text, microseconds always.

    The same text as `process_bind_param` followed by SQLAlchemy's own DATETIME processor
    (tests/gateway/test_schema_types.py), in one C call instead of a %-format of seven fields,
    and remembered: one ingest binds many times, most of them its transaction's `now`.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return _utc_text(value.astimezone(UTC))


@lru_cache(maxsize=1024)
def _utc_text(value: datetime) -> str:
    # Keyed on the UTC datetime: in a zone, the two instants of a repeated autumn hour compare
    # (and hash) equal across their fold, so a key in local time could give one the other's text.
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = String(36)
Ts = UtcDateTime()

children = Table(
    "children",
    metadata,
    Column("id", Id, primary_key=True),
    Column("nhs_number", String(10), nullable=True, index=True),
    # normalised family name | first given name | date of birth (docs/council-it.md: matching)
    Column("match_key", String(300), nullable=False, index=True),
    Column("created_at", Ts, nullable=False),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("child_id", Id, ForeignKey("children.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("risk_level", String(24), nullable=False),
    Column("looked_after", Boolean, nullable=False),
    Column("dfe_missing_type", String(1), nullable=True),
    # None while the council where the child is has a name that matches none (COMPACT).
    Column("home_council", String(3), nullable=True, index=True),
    Column("responsible_council", String(3), nullable=True, index=True),
    Column("reported_at", Ts, nullable=False),
    Column("found_at", Ts, nullable=True),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    # The canonical episode state after the latest event (canonical JSON, ids and all).
    Column("state", JSON, nullable=False),
    # When the policy timer must next look at this episode (a time-based rule falls due).
    Column("policy_due_at", Ts, nullable=True, index=True),
)
Index("ix_episodes_child_reported", episodes.c.child_id, episodes.c.reported_at)

# Every council policy flag raised: the unique key makes "once per episode, rule and period" a
# constraint, so a restart or a second worker cannot raise a flag twice.
policy_flags = Table(
    "policy_flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False, index=True),
    Column("council", String(3), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("period", Integer, nullable=False),  # 0, or the repeat number of a repeating rule
    Column("code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("due_at", Ts, nullable=False),  # the moment the rule's condition was met
    Column("raised_at", Ts, nullable=False),  # when the gateway noticed (event or timer)
    Column("event_id", Id, ForeignKey("events.id"), nullable=True),  # the event that carried it
    UniqueConstraint("episode_id", "council", "rule", "period"),
)

episode_sources = Table(
    "episode_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("force", String(2), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("last_version", Integer, nullable=False),
    UniqueConstraint("source", "force", "reference"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),  # the receipt id
    Column("source", String(16), nullable=False),
    Column("force", String(2), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("received_at", Ts, nullable=False),
    Column("c14n_sha256", String(64), nullable=False),
    Column("body", LargeBinary, nullable=True),  # purged after the retention period
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=True, index=True),
    Column("stale", Boolean, nullable=False),
    Column("receipt", JSON, nullable=False),
    UniqueConstraint("source", "force", "message_id"),
)

# A force's receipts, newest first (GET /v1/receipts): a page reads one range of this index.
Index("ix_messages_force_received", messages.c.force, messages.c.received_at)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the episode
    Column("message_row_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("type", String(16), nullable=False),
    Column("at", Ts, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("canonical", JSON, nullable=False),  # the EpisodeEvent as canonical JSON
    UniqueConstraint("episode_id", "seq"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("event_id", Id, ForeignKey("events.id"), nullable=False, index=True),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False),
    Column("council", String(3), nullable=False),
    Column("system", String(16), nullable=False),
    # Monotonic per (episode, council): the ordering key (docs/architecture.md: Guarantees).
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),  # 0 high risk … 3 no apparent risk
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("created_at", Ts, nullable=False),
    Column("deadline_at", Ts, nullable=False),
    Column("next_attempt_at", Ts, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # Attempts made before the last replay: the retry budget counts only those after it.
    Column("attempt_floor", Integer, nullable=False, default=0),
    # An in-flight delivery whose worker died is claimable again once its lease has passed.
    Column("lease_until", Ts, nullable=True),
    Column("sent_at", Ts, nullable=True),  # Protocol: dropped, acknowledgement awaited
    Column("delivered_at", Ts, nullable=True),
    Column("updated_at", Ts, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("target_reference", String(200), nullable=True),
    Column("payload", LargeBinary, nullable=True),
    Column("payload_media_type", String(100), nullable=True),
    Column("flags", JSON, nullable=False),
    # Why the council is told (responsible, home, host: docs/council-it.md); None on rows written
    # before it was kept, whose event's snapshot names the council and so its role.
    Column("council_role", String(16), nullable=True),
    UniqueConstraint("episode_id", "council", "seq"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
# The claim reads one (status, priority) range in due order (gateway/delivery/claims.py).
Index(
    "ix_deliveries_claim",
    deliveries.c.status,
    deliveries.c.priority,
    deliveries.c.next_attempt_at,
)
# The claim's expired leases (a worker died) and the breakers' count of attempts in flight: both
# read the few `in_flight` rows by lease. Without it each round scanned every delivery on SQLite.
Index("ix_deliveries_lease", deliveries.c.status, deliveries.c.lease_until)
# The councils awaiting an acknowledgement (gateway/delivery/acks.py): the few `sent` rows, read
# through their own index whatever SQLite's statistics say of the status.
_SENT = text("status = 'sent'")
Index("ix_deliveries_sent", deliveries.c.council, sqlite_where=_SENT, postgresql_where=_SENT)
# The councils with work queued (gateway/delivery/slots.py): one probe per routed council, each
# round, so that only those councils' breakers are locked, not every routed council's. Not the
# `in_flight` rows: the counts of those read them by lease, and no plan should read them by council.
_QUEUED = text("status IN ('pending', 'retrying')")
Index("ix_deliveries_queued", deliveries.c.council, sqlite_where=_QUEUED, postgresql_where=_QUEUED)
Index("ix_deliveries_council_created", deliveries.c.council, deliveries.c.created_at)
Index("ix_deliveries_created", deliveries.c.created_at)

# Where each Protocol council's acknowledgement feed was last read up to.
ack_cursors = Table(
    "ack_cursors",
    metadata,
    Column("council", String(3), primary_key=True),
    Column("system", String(16), nullable=False),
    Column("cursor", String(200), nullable=True),
    Column("updated_at", Ts, nullable=False),
)

# Each council's circuit breaker (gateway/delivery/breaker.py), shared by every worker: the
# recent window's counts, the opening and its probes, and a Retry-After hold.
breakers = Table(
    "breakers",
    metadata,
    Column("council", String(3), primary_key=True),
    Column("window_start", Ts, nullable=False),
    Column("calls", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("prev_calls", Integer, nullable=False, default=0),
    Column("prev_failures", Integer, nullable=False, default=0),
    Column("opened_at", Ts, nullable=True),
    Column("open_s", Float, nullable=False, default=0.0),
    Column("openings", Integer, nullable=False, default=0),
    Column("probe_ok", Integer, nullable=False, default=0),
    Column("probe_failed", Integer, nullable=False, default=0),
    Column("held_at", Ts, nullable=True),
    Column("hold_s", Float, nullable=False, default=0.0),
    Column("updated_at", Ts, nullable=False),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("started_at", Ts, nullable=False),
    Column("finished_at", Ts, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("http_status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("target_reference", String(200), nullable=True),
    UniqueConstraint("delivery_id", "number"),
)

# What waits for an operator: an event for a council that is not onboarded (`council`), or
# one naming a council by a name that matches none (`name`, verbatim, `council` None until the
# name resolves). `role` is the role the council is told in once it can be (docs/council-it.md).
unroutable = Table(
    "unroutable",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Id, ForeignKey("events.id"), nullable=False),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False, index=True),
    Column("message_row_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("council", String(3), nullable=True, index=True),
    Column("name", String(200), nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("resolved_at", Ts, nullable=True),
    UniqueConstraint("event_id", "council"),
    CheckConstraint(
        "council IS NOT NULL OR name IS NOT NULL", name="ck_unroutable_council_or_name"
    ),
)

case_records = Table(
    "case_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Id, ForeignKey("episodes.id"), nullable=False),
    Column("council", String(3), nullable=False),
    Column("system", String(16), nullable=False),
    Column("person_id", String(100), nullable=True),
    Column("case_episode_id", String(100), nullable=True),
    Column("updated_at", Ts, nullable=False),
    UniqueConstraint("episode_id", "council"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # public key id: the first part of the key
    Column("secret_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("force", String(2), nullable=True),
    Column("council", String(3), nullable=True),
    Column("name", String(200), nullable=True),
    Column("created_at", Ts, nullable=False),
    Column("revoked_at", Ts, nullable=True),
)

# Signed-in browsers of the /ui pages: a session lasts while its row does (sign-out deletes
# it), so a copied cookie stops working with it. The cookie holds a secret; this its SHA-256.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_id", String(16), ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False, index=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", Ts, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(100), nullable=True),
    Column("entry", Text, nullable=False),  # canonical JSON of the whole entry, hashed as is
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)
# The latest entry of an action for a subject (e.g. the policy configuration's fingerprint).
Index("ix_audit_log_action_subject", audit_log.c.action, audit_log.c.subject)
