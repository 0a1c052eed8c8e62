"""Bulk seeding: stored history (growth) and a delivery backlog (drain), cloned from real rows.

One real ingest of a synthetic message, into a throwaway SQLite database, gives the rows one
message creates in every table (whatever the schema holds today). Each clone gets fresh uuid4
ids (random, like the gateway's, so index inserts land all over the B-trees), its own
reference, NHS number and family name, and times spread into the past. Rows go in with
executemany (SQLite) or COPY (PostgreSQL), in large transactions; seeding is set-up, not
measurement, so SQLite skips fsync and PostgreSQL skips foreign-key triggers while it runs.

Simplifications, kept small on purpose: raw message bodies are stored as purged (NULL), and
the audit chain gets one valid `received` entry per message (ingest only ever reads its head).

A gateway that stored these rows was running under the demo routing and its policy packs, and
recorded that configuration (gateway/policy/timer.py `arm`) before it evaluated any episode;
seeding records it too. Otherwise the first worker on the seeded database would take the
configuration as changed and evaluate every open episode again, a one-off cost of onboarding a
council or changing a pack that is not what a drain measures.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Table, create_engine, select

from adapters import registry
from bench.load import family_name, message, nhs_number, reference
from gateway import audit, routing
from gateway.api.app import build_services
from gateway.keys import Principal, Role
from gateway.policy.timer import arm
from gateway.settings import DEMO_ROUTING, Settings
from gateway.store import schema
from gateway.store.engine import make_engine, normalise_url

SKIPPED = {"audit_log", "api_keys"}  # the chain is rebuilt below; keys are not per message
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Row = dict[str, Any]
_RANDOM = random.Random()  # row ids, not secrets


@dataclass(frozen=True, slots=True)
class Template:
    """The rows of one ingested message per table, and the tokens each clone must replace."""

    rows: list[tuple[Table, list[Row]]]
    tokens: dict[str, Callable[[int, list[str]], str]]
    receipt_token: str
    ingested_at: datetime


def capture(number: int = 0) -> Template:
    """Ingest message `number` into a throwaway database and read back what it created."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), worker=False, simulators=False)
        services = build_services(settings)
        outcome = services.ingestor.ingest(
            registry.INBOUND["merlin"], message(number), Principal("template", Role.POLICE, "01")
        )
        with services.engine.connect() as connection:
            rows = [
                (table, [dict(r) for r in connection.execute(select(table)).mappings()])
                for table in schema.metadata.sorted_tables
                if table.name not in SKIPPED
            ]
            ingested_at = connection.execute(select(schema.messages.c.received_at)).scalar_one()
        services.engine.dispose()
    rows = [(table, found) for table, found in rows if found]
    text = json.dumps([r for _, found in rows for r in found], default=str)
    tokens: dict[str, Callable[[int, list[str]], str]] = {}
    for found in sorted(set(_UUID.findall(text))):  # each uuid, then its hex form
        tokens[found] = lambda _n, _made: _uuid()
        tokens[uuid.UUID(found).hex] = lambda _n, made: made[-1].replace("-", "")
    name = family_name(number)
    tokens |= {
        reference(number): lambda n, _made: reference(n),
        nhs_number(number): lambda n, _made: nhs_number(n),
        name: lambda n, _made: family_name(n),
        name.lower(): lambda n, _made: family_name(n).lower(),
    }
    return Template(rows, tokens, str(outcome.receipt["receipt_id"]), ingested_at)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table's insert: its columns and one compiled row builder per template row."""

    table: str
    columns: list[str]
    builders: list[Callable[[list[str], list[Any]], tuple[Any, ...]]]


def _plans(
    template: Template, edit: Callable[[str, Row], None], times: list[datetime]
) -> list[_Plan]:
    """Compile each template row into `lambda v, t: (...)` over token values and times.

    Generated code, because seeding a million messages through a generic per-value loop costs
    minutes of CPU; the compiled tuple expressions cost a fraction of that.
    """
    order = list(template.tokens)
    pattern = re.compile("(" + "|".join(map(re.escape, order)) + ")")
    plans = []
    for table, rows in template.rows:
        columns = [c for c in table.columns if not _autoincrement(table, c)]
        builders = []
        for original in rows:
            row = dict(original)
            edit(table.name, row)
            consts: list[Any] = []
            exprs = []
            for column in columns:
                value = row[column.name]
                if isinstance(column.type, JSON) and value is not None:
                    value = json.dumps(value)
                if isinstance(value, datetime):
                    if value not in times:
                        times.append(value)
                    exprs.append(f"t[{times.index(value)}]")
                elif isinstance(value, str) and len(parts := pattern.split(value)) > 1:
                    pieces = []
                    for i, part in enumerate(parts):
                        if i % 2:
                            pieces.append(f"v[{order.index(part)}]")
                        elif part:
                            consts.append(part)
                            pieces.append(f"c[{len(consts) - 1}]")
                    exprs.append("(" + " + ".join(pieces) + ")")
                else:
                    consts.append(value)
                    exprs.append(f"c[{len(consts) - 1}]")
            source = "lambda v, t: (" + ", ".join(exprs) + ",)"
            builders.append(eval(source, {"c": consts}))  # our own generated code
        plans.append(_Plan(table.name, [c.name for c in columns], builders))
    return plans


def _autoincrement(table: Table, column: Any) -> bool:
    """An integer surrogate key the database assigns (left out of the insert)."""
    keys = list(table.primary_key.columns)
    return len(keys) == 1 and keys[0] is column and column.autoincrement is True


def _uuid() -> str:
    """A random version-4 uuid as text; uuid.uuid4() costs several times more."""
    h = f"{_RANDOM.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def clones(
    template: Template,
    dialect: str,
    numbers: range,
    *,
    newest: datetime,
    spacing: timedelta,
    edit: Callable[[str, Row], None],
) -> Iterator[tuple[dict[str, list[tuple[Any, ...]]], str, datetime]]:
    """Per message number: rows per table, its new receipt id and its time (last is newest)."""
    distinct: list[datetime] = []
    plans = _plans(template, edit, distinct)
    if dialect == "sqlite":  # stored as UtcDateTime does there: naive UTC text, with µs
        distinct = [at.replace(tzinfo=None) for at in distinct]
    makers = list(template.tokens.values())
    receipt = list(template.tokens).index(template.receipt_token)
    last = numbers[-1] if numbers else 0
    for n in numbers:
        values: list[str] = []
        for make in makers:
            values.append(make(n, values))
        shift = newest - template.ingested_at + (n - last) * spacing
        times: list[Any] = [at + shift for at in distinct]
        if dialect == "sqlite":
            times = [at.isoformat(" ", "microseconds") for at in times]
        tables = {plan.table: [build(values, times) for build in plan.builders] for plan in plans}
        yield tables, values[receipt], template.ingested_at + shift


def as_history(table: str, row: Row) -> None:
    """Stored history: delivered two seconds after it was queued; bodies purged."""
    if table == "deliveries":
        done = row["created_at"] + timedelta(seconds=2)
        row |= {"status": "delivered", "attempts": 1, "next_attempt_at": None}
        row |= {"delivered_at": done, "updated_at": done, "target_reference": "BENCH"}
    if table == "messages":
        row["body"] = None


def as_backlog(table: str, row: Row) -> None:
    """A backlog: deliveries stay pending and due (the outage is over); bodies purged."""
    if table == "messages":
        row["body"] = None


class _Writer:
    """Raw DBAPI bulk inserts in one transaction per chunk."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalise_url(url))
        self.dialect = self.engine.dialect.name
        self.raw = self.engine.raw_connection()
        self.cursor = self.raw.cursor()
        if self.dialect == "sqlite":
            # A scratch database being filled: no fsync, no rollback journal; `gateway serve`
            # switches WAL and synchronous=FULL back on when it connects.
            self.cursor.execute("PRAGMA journal_mode=OFF")
            self.cursor.execute("PRAGMA synchronous=OFF")
            self.cursor.execute("PRAGMA cache_size=-1000000")  # 1 GB: random uuid keys
        else:
            self.cursor.execute("SET session_replication_role = replica")  # no FK triggers

    def head(self) -> tuple[int, str]:
        """The audit chain's newest (seq, hash)."""
        self.cursor.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        found = self.cursor.fetchone()
        return (int(found[0]), str(found[1])) if found else (0, audit.GENESIS)

    def write(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (executemany on SQLite, COPY on PostgreSQL)."""
        names = ", ".join(f'"{c}"' for c in columns)
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            self.cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
            return
        with self.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)

    def analyse(self) -> None:
        """Fresh planner statistics, as a production database's autovacuum keeps them."""
        self.cursor.execute("ANALYZE")
        self.raw.commit()

    def commit(self) -> None:
        """Commit the chunk."""
        self.raw.commit()

    def close(self) -> None:
        """Release the connection and the engine."""
        self.raw.close()
        self.engine.dispose()


_AUDIT = ["seq", "at", "actor", "action", "subject", "entry", "prev_hash", "hash"]


def _audit_rows(
    head: tuple[int, str], receipts: list[tuple[str, datetime]], dialect: str
) -> tuple[tuple[int, str], list[tuple[Any, ...]]]:
    """One chained `received` entry per message, built exactly as `audit.append` builds one."""
    seq, prev = head
    rows = []
    for receipt_id, at in receipts:
        seq += 1
        fields = {"seq": seq, "at": at.isoformat().replace("+00:00", "Z"), "actor": "seed"}
        fields |= {"action": "received", "subject": receipt_id, "prev_hash": prev}
        entry = audit.canonical_json(fields | {"details": {"source": "merlin", "force": "01"}})
        digest = hashlib.sha256(entry.encode()).hexdigest()
        when = at.replace(tzinfo=None).isoformat(" ", "microseconds") if dialect == "sqlite" else at
        rows.append((seq, when, "seed", "received", receipt_id, entry, prev, digest))
        prev = digest
    return (seq, prev), rows


def seed(
    url: str,
    template: Template,
    numbers: range,
    *,
    edit: Callable[[str, Row], None],
    newest: datetime,
    spacing: timedelta,
    chunk: int = 20_000,
) -> None:
    """Insert one cloned message per number (with its events, deliveries and audit entry)."""
    record_configuration(url)
    writer = _Writer(url)
    try:
        head = writer.head()
        batch: dict[str, list[tuple[Any, ...]]] = {}
        receipts: list[tuple[str, datetime]] = []
        made = clones(template, writer.dialect, numbers, newest=newest, spacing=spacing, edit=edit)
        columns = {p.table: p.columns for p in _plans(template, edit, [])}
        for tables, receipt_id, at in made:
            for name, rows in tables.items():
                batch.setdefault(name, []).extend(rows)
            receipts.append((receipt_id, at))
            if len(receipts) >= chunk:
                head = _flush(writer, columns, batch, receipts, head)
        head = _flush(writer, columns, batch, receipts, head)
        writer.analyse()
    finally:
        writer.close()


def record_configuration(url: str) -> None:
    """The demo routing's policy configuration, recorded as a running gateway records it.

    A no-op where it is recorded already (a second seeding of the same database). The routing's
    addresses are not part of it: any loopback URL will do.
    """
    engine = make_engine(url)
    try:
        table = routing.load(DEMO_ROUTING, simulators_url="http://127.0.0.1:9")
        arm(engine, table, now=datetime.now(UTC), actor="seed")
    finally:
        engine.dispose()


def _flush(
    writer: _Writer,
    columns: dict[str, list[str]],
    batch: dict[str, list[tuple[Any, ...]]],
    receipts: list[tuple[str, datetime]],
    head: tuple[int, str],
) -> tuple[int, str]:
    for name, rows in batch.items():  # template order: parents before children
        writer.write(name, columns[name], rows)
    head, rows = _audit_rows(head, receipts, writer.dialect)
    writer.write("audit_log", _AUDIT, rows)
    writer.commit()
    batch.clear()
    receipts.clear()
    return head
