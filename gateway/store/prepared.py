"""Statements on the ingest hot path, compiled once and run on the driver's cursor.

Around every statement SQLAlchemy Core builds a cache key, an execution context and a result
object, which costs several times what the driver takes to run a short statement, and one
ingested message runs many statements (docs/decisions/0013). A `Prepared` statement is a
Core statement compiled once per dialect (and per set of parameter names, which decide an
INSERT's or UPDATE's columns), with SQLAlchemy's own bind and result processors, so values
are written and read back exactly as Core writes and reads them; only the per-call machinery
is skipped. It runs inside the caller's Core transaction, on that transaction's connection.

A few parameter sets of a plain INSERT run on PostgreSQL as one multi-row `INSERT ... VALUES
(...), (...)`: psycopg's executemany enters and leaves its pipeline mode, which costs more
client CPU for a handful of rows (a message's flags) than the rows themselves. SQLite's
executemany is a loop in C, and stays.

What is given up, on purpose: these statements do not fire SQLAlchemy's cursor-execute events,
and statements that need Core's execution context are refused when compiled (Python-side column
defaults, expanding IN parameters). Driver errors are translated to SQLAlchemy's exceptions
(`DBAPIError.instance`, parameters hidden, since they may hold personal data), so callers catch
`IntegrityError` and `OperationalError` as they would from `Connection.execute`.
"""

from __future__ import annotations

import re
import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Float
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.sql import Executable, Insert
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

Params = Mapping[str, Any]
# Up to this many rows, one multi-row INSERT (PostgreSQL); more go through executemany,
# whose pipeline costs less per row than binding a long VALUES list (measured: even at 9).
_ROWS_PER_INSERT = 8
_CURSOR = "gateway.prepared.cursor"  # Connection.info key: (DBAPI connection, its cursor)
_Processor = Callable[[Any], Any] | None
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")  # a named (pyformat) parameter in compiled SQL


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one bind parameter's value comes from, and how the driver wants it."""

    name: str  # as the SQL names it (named paramstyles)
    key: str | None  # the caller's parameter; None: a value fixed in the statement
    fixed: Any  # that value, already as the driver wants it
    processor: _Processor


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One dialect's SQL for the statement, and how to bind and read it."""

    sql: str
    positional: bool
    slots: tuple[_Slot, ...]
    row: Callable[..., Any] | None  # a named tuple of the selected columns (SELECT only)
    results: tuple[_Processor, ...]
    rows: _Rows | None = None  # a plain INSERT on PostgreSQL: many rows in one statement

    def bind(self, params: Params) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for one set of the caller's."""
        values = self.values(params)
        if self.positional:
            return values
        return {slot.name: value for slot, value in zip(self.slots, values, strict=True)}

    def values(self, params: Params) -> list[Any]:
        """Each slot's value for one set of the caller's parameters, in slot order."""
        return [
            s.fixed
            if s.key is None
            else params[s.key]
            if s.processor is None
            else s.processor(params[s.key])
            for s in self.slots
        ]

    def read(self, raw: Sequence[Any]) -> Any:
        """A fetched row as a named tuple, each value through its column's result processor."""
        assert self.row is not None  # only SELECTs are read
        return self.row(*(v if p is None else p(v) for v, p in zip(raw, self.results, strict=True)))


@dataclass(frozen=True, slots=True)
class _Rows:
    """A plain INSERT's SQL for several rows in one VALUES list, with positional parameters.

    Positional, so that binding a row is a list extended, not names made up for each value.
    """

    head: str  # the statement up to and including "VALUES "
    row: str  # one row's parenthesised values, each placeholder as `%s`
    order: tuple[int, ...]  # the slot of each placeholder, in the order they appear
    sql: dict[int, str] = field(default_factory=dict)  # by row count, built when first run

    def statement(self, count: int) -> str:
        """The SQL for `count` rows."""
        found = self.sql.get(count)
        if found is None:
            found = self.head + ", ".join([self.row] * count)
            self.sql[count] = found
        return found

    def bind(self, compiled: _Compiled, many: Sequence[Params]) -> list[Any]:
        """The driver's parameters for the rows of `many`, row after row."""
        bound: list[Any] = []
        order = self.order
        for params in many:
            values = compiled.values(params)
            bound.extend([values[i] for i in order])
        return bound


class Prepared:
    """A Core statement run straight on the DBAPI cursor of the caller's transaction."""

    def __init__(self, statement: Executable) -> None:
        """Prepare `statement` (compiled lazily, once per dialect and set of parameter names)."""
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, connection: Connection, params: Params | None = None) -> list[Any]:
        """Every row the statement selects, as named tuples."""
        compiled, cursor = self._execute(connection, params or {})
        return [compiled.read(raw) for raw in cursor.fetchall()]

    def first(self, connection: Connection, params: Params | None = None) -> Any:
        """The first selected row as a named tuple, or None."""
        compiled, cursor = self._execute(connection, params or {})
        raws = cursor.fetchall()  # to the end: SQLite keeps an unfinished statement open
        return compiled.read(raws[0]) if raws else None

    def one(self, connection: Connection, params: Params | None = None) -> Any:
        """The first selected row, which must exist.

        Raises:
            LookupError: the statement selected no row.
        """
        row = self.first(connection, params)
        if row is None:
            raise LookupError(f"no row for {self.statement}")
        return row

    def scalar(self, connection: Connection, params: Params | None = None) -> Any:
        """The first column of the first selected row, which must exist (see `one`)."""
        return self.one(connection, params)[0]

    def run(self, connection: Connection, params: Params | Sequence[Params]) -> int:
        """Execute once, or once per set of `params` (executemany), for its effect.

        An INSERT, UPDATE or DELETE, or a SELECT run for what it does (taking a lock): its rows
        are read to the end and dropped.

        Returns:
            The driver's row count: rows changed (-1 where the driver does not say).
        """
        if isinstance(params, Mapping):
            _compiled, cursor = self._execute(connection, params)
        elif len(params) == 1:  # psycopg's executemany (a pipeline) costs twice an execute
            _compiled, cursor = self._execute(connection, params[0])
        else:
            if not params:
                return 0
            _compiled, cursor = self._execute(connection, params[0], many=params)
        if cursor.description is not None:  # a SELECT run for its effect (a lock): finish it
            cursor.fetchall()
        return int(cursor.rowcount)

    def _execute(
        self, connection: Connection, params: Params, many: Sequence[Params] | None = None
    ) -> tuple[_Compiled, Any]:
        if not connection.in_transaction():
            raise RuntimeError("a prepared statement runs inside the caller's transaction")
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(params))
        cursor = _cursor(connection)
        try:
            if many is None:
                cursor.execute(compiled.sql, compiled.bind(params))
            elif compiled.rows is not None and 1 < len(many) <= _ROWS_PER_INSERT:
                rows = compiled.rows
                cursor.execute(rows.statement(len(many)), rows.bind(compiled, many))
            else:
                cursor.executemany(compiled.sql, [compiled.bind(p) for p in many])
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                compiled.sql,
                None,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                dialect=dialect,
                ismulti=many is not None,
            ) from error
        return compiled, cursor

    def _for(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        cache_key = (dialect.name, keys)
        found = self._compiled.get(cache_key)
        if found is None:
            with self._lock:
                found = self._compiled.get(cache_key) or _compile(self.statement, dialect, keys)
                self._compiled[cache_key] = found
        return found


def _cursor(connection: Connection) -> Any:
    """The DBAPI connection's own cursor for prepared statements, made once and kept.

    Making a cursor costs psycopg about as much as running a short statement. Every statement
    is read to its end before the call returns (an unfinished SQLite statement would hold a
    read snapshot past the commit, and stop WAL checkpoints), and a connection serves one
    thread at a time.
    """
    dbapi_connection = connection.connection.dbapi_connection
    kept = connection.info.get(_CURSOR)
    if kept is None or kept[0] is not dbapi_connection:  # new, or reconnected since
        kept = (dbapi_connection, dbapi_connection.cursor())  # type: ignore[union-attr]
        connection.info[_CURSOR] = kept
    return kept[1]


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        raise ArgumentError(f"{compiled.string!r} needs Python-side defaults: give every column")
    names = compiled.positiontup if compiled.positional else list(compiled.binds)
    slots = tuple(_slot(compiled, dialect, name, keys) for name in names or ())
    row, results = _reader(statement, dialect)
    rows = _rows(statement, dialect, compiled.string, slots) if not compiled.positional else None
    return _Compiled(compiled.string, compiled.positional, slots, row, results, rows)


def _rows(
    statement: Executable, dialect: Dialect, sql: str, slots: tuple[_Slot, ...]
) -> _Rows | None:
    """How to insert several rows in one statement, for a plain INSERT on PostgreSQL.

    Plain: one VALUES row of placeholders only, each slot's once, nothing after it but the
    RETURNING of its key that Core adds by itself (no ON CONFLICT, whose rows could meet
    each other within one statement).
    """
    if dialect.name != "postgresql" or not isinstance(statement, Insert):
        return None
    if statement._post_values_clause is not None or statement._returning:
        return None
    head, found, row = sql.partition(" VALUES (")
    # Core adds RETURNING of an autoincrement key by itself; `run` drops what it returns.
    row = "(" + row.partition(" RETURNING ")[0]
    placeholders = _PLACEHOLDER.findall(row)
    rest = _PLACEHOLDER.sub("", row)  # the casts and commas between them, and the brackets
    names = [slot.name for slot in slots]
    if not found or "(" in rest[1:] or "%" in rest or sorted(placeholders) != sorted(names):
        return None
    order = tuple(names.index(name) for name in placeholders)
    return _Rows(head + " VALUES ", _PLACEHOLDER.sub("%s", row), order)


def _slot(compiled: SQLCompiler, dialect: Dialect, name: str, keys: tuple[str, ...]) -> _Slot:
    bind: BindParameter[Any] = compiled.binds[name]
    if bind.expanding:
        raise ArgumentError(f"{name!r} is an expanding (IN) parameter, which needs Core")
    key = bind.key if bind.key in keys else None
    if key is None and bind.required:
        raise ArgumentError(f"no value for the required parameter {bind.key!r}")
    processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
    escaped = compiled.escaped_bind_names.get(name, name)
    if key is not None:
        return _Slot(escaped, key, None, processor)
    fixed = bind.effective_value
    return _Slot(escaped, None, fixed if processor is None else processor(fixed), None)


# PostgreSQL's double precision, which a Float column is: psycopg's numeric result processor
# is chosen by the column's type oid, which Core otherwise reads off the cursor.
_FLOAT8_OID = 701


def _result_processor(type_: Any, dialect: Dialect) -> _Processor:
    oid = _FLOAT8_OID if dialect.name == "postgresql" and isinstance(type_, Float) else None
    processor: _Processor = type_.dialect_impl(dialect).result_processor(dialect, oid)
    return processor


def _reader(
    statement: Executable, dialect: Dialect
) -> tuple[Callable[..., Any] | None, tuple[_Processor, ...]]:
    columns = getattr(statement, "selected_columns", None)
    if columns is None:  # INSERT, UPDATE, DELETE: nothing is read back
        return None, ()
    keys = [column.key for column in columns]
    results = tuple(_result_processor(column.type, dialect) for column in columns)
    return namedtuple("Row", keys, rename=True), results
