"""Hot statements, built once, run straight on the batch writer's own ``sqlite3`` connection.

Every send runs about seven statements. Through SQLAlchemy Core each costs 30 to 40 µs of CPU
beyond SQLite's own work (a cache lookup, an execution context, a greenlet switch, a cursor
result), which is most of a short statement's cost. A ``Prepared`` statement is still written
once, in SQLAlchemy Core; it is compiled once, at its first use on SQLite, into its SQL text,
its parameters' order and each value's conversion (SQLAlchemy's own bind and result processors),
and then runs as one ``sqlite3`` call.

Only on the inline connection of ``Database.write_batched`` (``storage/inline_sqlite.py``), the
one whose calls never leave the event loop's thread; on any other connection (PostgreSQL, the
threaded SQLite engine) it is ``conn.execute``. A statement must bind every value by name or as a
literal: Python-side column defaults and expanding ``IN`` lists need SQLAlchemy's execution, and
are refused when the statement is first compiled.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from storage.inline_sqlite import InlineConnection

Processor = Callable[[Any], Any] | None
# A parameter's value: taken by name from the caller's, or a literal of the statement.
_FROM_CALLER = object()


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    literals: tuple[Any, ...]  # _FROM_CALLER, or the value bound in the statement
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    row: Callable[[Sequence[Any]], Row[Any]] | None  # None: the statement returns no rows


class Prepared:
    """A statement run with named values; ``rows`` returns its rows (none for a plain write)."""

    __slots__ = ("_plan", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plan: _Plan | None = None

    async def rows(self, conn: AsyncConnection, values: Mapping[str, Any]) -> Sequence[Row[Any]]:
        driver = _inline(conn)
        if driver is None:
            result = await conn.execute(self.statement, values)
            return result.all() if result.returns_rows else ()
        plan = self._plan
        if plan is None:
            plan = self._plan = _compile(self.statement, conn.dialect)
        parameters = [
            values[name] if literal is _FROM_CALLER else literal
            for name, literal in zip(plan.names, plan.literals, strict=True)
        ]
        parameters = [
            value if process is None or value is None else process(value)
            for value, process in zip(parameters, plan.binds, strict=True)
        ]
        try:
            cursor = driver.sqlite.execute(plan.sql, parameters)
            fetched = cursor.fetchall() if plan.row is not None else ()
        except sqlite3.Error as exc:
            # As SQLAlchemy raises it: callers catch IntegrityError, Database maps the rest.
            raise DBAPIError.instance(plan.sql, parameters, exc, sqlite3.Error) from exc
        if plan.row is None:
            return ()
        make = plan.row
        return [
            make(
                [value if process is None else process(value) for value, process in zip(row, plan.results, strict=True)]
            )
            for row in fetched
        ]


def _inline(conn: AsyncConnection) -> InlineConnection | None:
    sync = conn.sync_connection
    if sync is None:
        return None
    driver = sync.connection.driver_connection
    return driver if isinstance(driver, InlineConnection) else None


def _compile(statement: Executable, dialect: Dialect) -> _Plan:
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
        raise ValueError(f"not a statement to prepare (Python-side defaults or expanding values): {compiled}")
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    columns = list(getattr(statement, "exported_columns", ()))
    keys = [column.key for column in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"columns of the same name in a prepared statement: {keys}")
    return _Plan(
        sql=compiled.string,
        names=names,
        literals=tuple(_FROM_CALLER if bind.required else bind.effective_value for bind in binds),
        binds=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
        results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns),
        row=result_tuple(keys) if columns else None,
    )
