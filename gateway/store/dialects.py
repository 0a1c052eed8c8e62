"""SQL written for each dialect, so that one `Prepared` statement serves both backends.

- `in_list`: an IN over a list given as one parameter (Core's expanding IN is rendered again
  on every call, and `Prepared` refuses it): a PostgreSQL array, a JSON list on SQLite.
- `listed`: the values of such a list as rows, to select from.
- `unindexed`: a column kept out of SQLite's choice of index (docs/decisions/0039).
- `indexed_by`: a table read through the index named, on SQLite (docs/decisions/0040).
- `each_status`: a grouped count over several statuses, one branch per status.
- `constant`, `constants`: the code's own strings written into the SQL (an IN over them, or a
  value a partial index must see).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    column,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ColumnClause, CompoundSelect
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


class _StringList(TypeDecorator[Sequence[str]]):
    """A list of strings bound as one parameter: a text array on PostgreSQL, JSON on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """An array where the database has them."""
        return dialect.type_descriptor(ARRAY(String) if _postgres(dialect) else String())

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> Any:
        """The list as the driver binds it."""
        if value is None:
            return None
        return list(value) if _postgres(dialect) else json.dumps(list(value))


class _Listed(FromClause):
    """The values of a list parameter as rows of one column, `value` (`listed`)."""

    inherit_cache = True
    named_with_column = False
    _traverse_internals = [("listed", InternalTraversal.dp_clauseelement)]

    def __init__(self, listed: BindParameter[Any]) -> None:
        self.listed = listed

    def _populate_column_collection(self, *args: Any, **kwargs: Any) -> None:
        """None: its one column is selected by name (`LISTED_VALUE`)."""

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self]


@compiles(_Listed)
def _json_each(element: _Listed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each({compiler.process(element.listed, **kw)})"


@compiles(_Listed, "postgresql")
def _unnest(element: _Listed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"unnest({compiler.process(element.listed, **kw)}) AS listed(value)"


# The column of `listed`, unqualified: a statement that uses it has no other `value`.
LISTED_VALUE: ColumnClause[str] = column("value")


def listed(name: str) -> Select[Any]:
    """`SELECT value FROM` the list given as parameter `name`: one row a value, in any order.

    For a statement that is driven by a list (an EXISTS per value, say), which an IN over the
    list (`in_list`) cannot say. Bound as `in_list` binds it: `unnest` of an array on
    PostgreSQL, `json_each` of a JSON list on SQLite.
    """
    return _values_of(bindparam(name, type_=_StringList()))


def _values_of(bound: BindParameter[Any]) -> Select[Any]:
    return select(LISTED_VALUE).select_from(_Listed(bound))


class _InList(ColumnElement[Any]):
    """`target IN (a list parameter)`, written for each dialect when compiled (`in_list`)."""

    inherit_cache = True
    _traverse_internals = [
        ("target", InternalTraversal.dp_clauseelement),
        ("listed", InternalTraversal.dp_clauseelement),
    ]
    type: TypeEngine[Any] = NullType()  # a condition, not a value: no `= 1` on SQLite

    def __init__(self, target: ColumnElement[Any], listed: BindParameter[Any]) -> None:
        self.target = target
        self.listed = listed


@compiles(_InList)
def _in_json_list(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    values = _values_of(element.listed).scalar_subquery()
    return compiler.process(element.target.in_(values), **kw)


@compiles(_InList, "postgresql")
def _in_array(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.target == any_(element.listed), **kw)


def in_list(target: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """`target IN (the list given as parameter name)`, in a form a `Prepared` statement takes.

    The list is bound as one parameter (`_StringList`): an array on PostgreSQL (`= ANY`), a
    JSON list read through `json_each` on SQLite. Not Core's expanding `IN`, which `Prepared`
    refuses and Core renders again on every call.
    """
    return _InList(target, bindparam(name, type_=_StringList()))


class _Unindexed(ColumnElement[Any]):
    """A column kept out of SQLite's choice of index (`unindexed`)."""

    inherit_cache = True
    _traverse_internals = [("target", InternalTraversal.dp_clauseelement)]

    def __init__(self, target: ColumnElement[Any]) -> None:
        self.target = target
        self.type = target.type


@compiles(_Unindexed)
def _as_is(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.target, **kw)


@compiles(_Unindexed, "sqlite")
def _unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.target, **kw)


def unindexed(target: ColumnElement[Any]) -> ColumnElement[Any]:
    """`target` as written where it must not choose the index: `+column` on SQLite.

    SQLite's unary plus leaves the value as it is and keeps the term out of the planner's
    choice of index. Its statistics give one average per column, so a status that is rare (a
    few deliveries in flight) looks as common as one that is not, and the planner would walk a
    council's every delivery through the council index rather than read the few rows of a
    status. PostgreSQL keeps per-value statistics and gets the column as it is.
    """
    return _Unindexed(target)


class _IndexedBy(FromClause):
    """A table, read through one index on SQLite (`indexed_by`)."""

    inherit_cache = True
    named_with_column = False
    _traverse_internals = [
        ("table", InternalTraversal.dp_clauseelement),
        ("index", InternalTraversal.dp_string),
    ]

    def __init__(self, table: Table, index: str) -> None:
        self.table = table
        self.index = index

    def _populate_column_collection(self, *args: Any, **kwargs: Any) -> None:
        """None: its columns are the table's, which it stands for in the FROM list."""

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self]

    @property
    def _hide_froms(self) -> list[FromClause]:
        return [self.table]


@compiles(_IndexedBy)
def _table_as_is(element: _IndexedBy, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.table, **kw))


@compiles(_IndexedBy, "sqlite")
def _sqlite_indexed_by(element: _IndexedBy, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.table, **kw)} INDEXED BY {element.index}"


def indexed_by(table: Table, index: str) -> FromClause:
    """`table` to select from, read through `index` on SQLite (`INDEXED BY`); as is elsewhere.

    Where SQLite's one average per index column misleads it whatever the query says: when
    three councils of 153 hold a backlog, the queued rows' partial index looks 17 times less
    selective than the council index, which reads a council's every delivery kept. SQLite
    refuses to prepare a statement that the index cannot serve, so the name is checked
    whenever the statement is first run. PostgreSQL keeps per-value statistics and chooses
    for itself.
    """
    return _IndexedBy(table, index)


def each_status(
    statement: Select[Any], status: ColumnElement[Any], values: Sequence[str]
) -> CompoundSelect[Any]:
    """`statement` once for each status, UNION ALL: one `status = '…'` branch each.

    For a count that groups unsettled deliveries: with an IN over several statuses SQLite's
    planner (one average per column) reads every delivery kept, through the council index or
    the table; with one status written into each branch it reads that status's rows through
    the status index (docs/decisions/0039).
    """
    return union_all(*(statement.where(status == constant) for constant in constants(values)))


def constants(values: Sequence[str]) -> list[ColumnElement[Any]]:
    """Fixed strings written into the SQL, for an IN over them (`column.in_(constants(...))`).

    Core binds a Python list as an expanding parameter, which `Prepared` refuses; these are
    the code's own literals (never input), so they need no parameter.
    """
    return [constant(value) for value in values]


def constant(value: str) -> ColumnElement[Any]:
    """One fixed string written into the SQL: where a partial index needs to see the value."""
    assert "'" not in value  # the code's own constants only
    return literal_column(f"'{value}'")


def _postgres(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"
