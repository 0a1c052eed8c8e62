"""The SQLAlchemy internals gateway/store/prepared.py reads, checked one by one on both dialects.

`Prepared` compiles a Core statement once and runs it on the driver's cursor, so it reads
parts of SQLAlchemy's compiler that are not public API. pyproject.toml bounds SQLAlchemy to
the versions these were checked on; when a new version is allowed, this file says at once
(by name) which internal moved, rather than ingest failing in some later, stranger way.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

from gateway.store.schema import children, messages

_ROOT = Path(__file__).resolve().parents[2]
_DIALECTS = {"sqlite": sqlite.pysqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}
_MOVED = "SQLAlchemy changed an internal that gateway/store/prepared.py reads: "


def _compile(statement: Any, dialect: Dialect, keys: list[str]) -> SQLCompiler:
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    assert isinstance(compiled, SQLCompiler), _MOVED + "compile() no longer gives an SQLCompiler"
    return compiled


def _has(owner: object, name: str) -> Any:
    assert hasattr(owner, name), _MOVED + f"{type(owner).__name__}.{name} is gone"
    return getattr(owner, name)


def test_the_installed_sqlalchemy_is_within_the_bound_pyproject_declares() -> None:
    """The bound is what keeps an unchecked SQLAlchemy out; the installed one must be within."""
    declared = tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in declared if d.lower().startswith("sqlalchemy")]
    upper = re.search(r"<\s*([0-9.]+)", spec)
    assert upper is not None, f"SQLAlchemy needs an upper bound in pyproject.toml: {spec!r}"
    installed = tuple(int(part) for part in version("sqlalchemy").split(".")[:2])
    bound = tuple(int(part) for part in upper.group(1).split(".")[:2])
    assert installed < bound, f"SQLAlchemy {version('sqlalchemy')} is outside {spec!r}"


@pytest.mark.parametrize("name", sorted(_DIALECTS))
def test_the_compiler_still_exposes_the_sql_and_its_bind_parameters(name: str) -> None:
    """SQL text, paramstyle, the binds by name and their order, escaped names, processors."""
    dialect = _DIALECTS[name]
    query = select(messages.c.id, messages.c.receipt).where(
        messages.c.source == bindparam("source"), messages.c.stale == literal(False)
    )
    compiled = _compile(query, dialect, ["source"])
    assert isinstance(_has(compiled, "string"), str)
    positional = _has(compiled, "positional")
    assert isinstance(positional, bool)
    binds = _has(compiled, "binds")
    names = _has(compiled, "positiontup") if positional else list(binds)
    assert names, _MOVED + "no bind names in a statement with two parameters"
    assert isinstance(_has(compiled, "escaped_bind_names"), dict)
    for bind_name in names:
        bind = binds[bind_name]
        assert isinstance(bind, BindParameter)
        for attribute in ("key", "expanding", "required", "effective_value"):
            _has(bind, attribute)
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        assert processor is None or callable(processor)
    assert {binds[n].key for n in names} >= {"source"}


@pytest.mark.parametrize("name", sorted(_DIALECTS))
def test_python_side_defaults_still_show_as_prefetch(name: str) -> None:
    """A column with a Python default is prefetched: `Prepared` refuses such a statement."""
    dialect = _DIALECTS[name]
    for statement, attribute in ((insert(children), "insert_prefetch"),):
        compiled = _compile(statement, dialect, ["id"])
        assert isinstance(_has(compiled, attribute), list)
    compiled = _compile(update(children), dialect, ["nhs_number"])
    assert isinstance(_has(compiled, "update_prefetch"), list)


@pytest.mark.parametrize("name", sorted(_DIALECTS))
def test_selected_columns_still_give_result_processors(name: str) -> None:
    """Rows are read through each selected column's result processor."""
    dialect = _DIALECTS[name]
    query = select(messages.c.received_at, messages.c.receipt, messages.c.stale)
    columns = _has(query, "selected_columns")
    for column in columns:
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        assert processor is None or callable(processor)


def test_driver_errors_are_still_translated_the_way_prepared_calls_it() -> None:
    """`DBAPIError.instance` takes the keywords `Prepared` passes (values hidden)."""
    parameters = inspect.signature(DBAPIError.instance).parameters
    for keyword in ("hide_parameters", "dialect", "ismulti"):
        assert keyword in parameters, _MOVED + f"DBAPIError.instance has no {keyword!r}"


def test_a_connection_still_reaches_its_driver_connection(engine: Engine) -> None:
    """`Prepared` keeps one driver cursor per driver connection, found this way."""
    with engine.begin() as connection:
        driver = _has(connection.connection, "dbapi_connection")
        assert callable(_has(driver, "cursor"))
        assert isinstance(connection.info, dict)
