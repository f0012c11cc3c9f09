"""Writing rows to `external_api_logs`: idempotent batch inserts that also update the rollup.

Every insert ignores a conflict on `log_id` (`row.py`), so a row written twice is stored once.
The one exception is the first write of a fresh batch on PostgreSQL, which uses COPY (it
cannot skip conflicts) and falls back to the ignore-on-conflict insert if it meets one.

Every insert also adds the rows it actually inserted to the 5-minute rollup (`rollup.py`), in
the same transaction: a row skipped as already stored is not counted a second time.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from psycopg.errors import UniqueViolation
from sqlalchemy import Boolean, Connection, DateTime, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from app.calllog import rollup
from app.calllog.row import TABLE, Row

# SQLite multi-row insert sizes: 19 columns x 256 rows stays well under its 32,766 parameters.
_CHUNK_SIZES = (256, 64, 16, 4, 1)
# A lookup, then an insert that skipped a row anyway, twice in a row: something else is
# inserting our ids, and the batch fails (it goes to the spool) rather than loop.
_SQLITE_ATTEMPTS = 3
# Identifiers come from our own table metadata; the ids are one bound parameter.
_SQLITE_STORED_IDS = (
    f"SELECT json_group_array(log_id) FROM {TABLE.name}"  # noqa: S608
    " WHERE log_id IN (SELECT value FROM json_each(?))"
)


_DIALECT_INSERTS: dict[str, Callable[[Table], Insert]] = {
    "sqlite": lambda table: sqlite.insert(table).on_conflict_do_nothing(index_elements=["log_id"]),
    "postgresql": lambda table: postgresql.insert(table).on_conflict_do_nothing(
        index_elements=["log_id"]
    ),
}


def idempotent_insert(dialect_name: str) -> Insert:
    """`INSERT ... ON CONFLICT (log_id) DO NOTHING` for the backends we support."""
    try:
        return _DIALECT_INSERTS[dialect_name](TABLE)
    except KeyError:
        raise ValueError(f"call log: unsupported database backend {dialect_name!r}") from None


def insert_rows(engine: Engine, statement: Insert, rows: Sequence[Row]) -> None:
    """One multi-row insert in one transaction through a sync session (the generic path)."""
    with Session(engine) as session, session.begin():
        session.execute(statement, list(rows))


class BatchInsert:
    """The writer's insert: statements built once per column set, values converted as the
    column types' own bind processors do, then a few driver-level statements per batch.

    Same stored values as `insert_rows`, without SQLAlchemy's generic per-row parameter
    machinery, which costs several times the database's own work at batch sizes we use.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def fresh(self, rows: Sequence[Row]) -> None:
        """First write of rows no one has inserted yet.

        On PostgreSQL this is COPY, measured at about 3x the rate of the unnest insert
        (`bench/calllog_writer.py`). COPY cannot ignore conflicts: if a replay raced ahead
        of this batch (it was spooled after its commit bound), the unique index refuses the
        COPY and the ignore-on-conflict insert writes the rest.
        """
        if self._engine.dialect.name != "postgresql" or not rows:
            self(rows)
            return
        keys = tuple(rows[0])
        data_at = keys.index("data") if "data" in keys else -1
        sql = f"COPY {TABLE.name} ({', '.join(keys)}) FROM STDIN"
        try:
            with Session(self._engine) as session, session.begin():
                driver = session.connection().connection.driver_connection
                with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        values = list(row.values())
                        if data_at >= 0 and values[data_at] is not None:
                            values[data_at] = orjson.dumps(values[data_at]).decode()
                        copy.write_row(values)
                rollup.merge(session.connection(), rollup.tally_rows(rows))
        except UniqueViolation:
            self(rows)

    def __call__(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        keys = tuple(rows[0])
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = _Plan(self._engine, keys)
        if plan.columnar:  # PostgreSQL: RETURNING names the rows inserted
            with Session(self._engine) as session, session.begin():
                connection = session.connection()
                inserted = plan.insert_returning(connection, rows)
                rollup.merge(connection, rollup.tally_rows(inserted))
            return
        # SQLite: assume none is stored yet (every fresh batch); if the insert skipped any,
        # roll back, look up which are stored, and insert the others.
        for attempt in range(_SQLITE_ATTEMPTS):
            try:
                with Session(self._engine) as session, session.begin():
                    connection = session.connection()
                    if attempt:
                        rows = plan.not_stored(connection, rows)
                    plan.insert_all(connection, rows)
                    rollup.merge(connection, rollup.tally_rows(rows))
                return
            except _SkippedRowsError:
                continue
        raise RuntimeError("call log: rows appeared between looking them up and inserting them")


class _SkippedRowsError(Exception):
    """An insert skipped rows already stored; SQLite cannot say which."""


class _Plan:
    """One column set's insert: PostgreSQL's unnest statement, or SQLite's multi-row ones."""

    def __init__(self, engine: Engine, keys: tuple[str, ...]) -> None:
        dialect = engine.dialect
        self.keys = keys
        self.columnar = dialect.name == "postgresql"
        # The dialect's own implementation: it is what formats SQLite datetimes, for one.
        processors = {
            key: processor
            for key in keys
            if (processor := TABLE.c[key].type.dialect_impl(dialect).bind_processor(dialect))
            is not None
        }
        self._processors = list(processors.items())
        if self.columnar:
            # One statement, one round trip: a column array per column, unnested server-side.
            arrays = ", ".join(
                f"%({k})s::{TABLE.c[k].type.compile(dialect=dialect)}[]" for k in keys
            )
            # Identifiers come from our own table metadata; every value is a bound parameter.
            self.sql = (
                f"INSERT INTO {TABLE.name} ({', '.join(keys)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
                "ON CONFLICT (log_id) DO NOTHING RETURNING log_id"
            )
        self._multirow_sql: dict[int, str] = {}
        self._steps = [(key, _sqlite_step(key, processors.get(key))) for key in keys]

    def multirow_chunks(self, params: list[Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """SQLite: the batch as a few multi-row INSERTs instead of one executemany.

        sqlite3's executemany releases and retakes the GIL around every row; while the event
        loop is busy, each retake waits out a switch interval (5 ms), so a 500-row batch took
        ~170 ms instead of ~5 ms (`bench/calllog_writer.py`). A handful of fixed chunk sizes
        keeps every statement in sqlite3's statement cache.
        """
        width = len(self.keys)
        count = len(params) // width
        at = 0
        while at < count:
            size = next(n for n in _CHUNK_SIZES if n <= count - at)
            yield self._multirow(size), tuple(params[at * width : (at + size) * width])
            at += size

    def _multirow(self, size: int) -> str:
        sql = self._multirow_sql.get(size)
        if sql is None:
            columns = ", ".join(self.keys)
            group = f"({', '.join('?' * len(self.keys))})"
            # Identifiers come from our own table metadata; every value is a bound parameter.
            sql = self._multirow_sql[size] = (
                f"INSERT INTO {TABLE.name} ({columns}) VALUES {', '.join([group] * size)} "  # noqa: S608
                "ON CONFLICT (log_id) DO NOTHING"
            )
        return sql

    def insert_returning(self, connection: Connection, rows: Sequence[Row]) -> Sequence[Row]:
        """PostgreSQL: insert, skipping rows already stored; returns the rows inserted."""
        result = connection.exec_driver_sql(self.sql, self.columns(rows))
        inserted = {log_id for (log_id,) in result}
        if len(inserted) == len(rows):
            return rows
        return [row for row in rows if row["log_id"] in inserted]

    def insert_all(self, connection: Connection, rows: Sequence[Row]) -> None:
        """SQLite: insert every row or raise `_SkippedRowsError`.

        Counted, not RETURNING: each returned row is one more sqlite3 step, and each step one
        more GIL hand-off (see `multirow_chunks`).
        """
        if not rows:
            return
        inserted = 0
        for sql, values in self.multirow_chunks(self.flat_values(rows)):
            inserted += connection.exec_driver_sql(sql, values).rowcount
        if inserted != len(rows):
            raise _SkippedRowsError

    def not_stored(self, connection: Connection, rows: Sequence[Row]) -> list[Row]:
        """SQLite: the rows whose log_id is not stored yet (one statement, one result row)."""
        payload = orjson.dumps([row["log_id"] for row in rows]).decode()
        found = connection.exec_driver_sql(_SQLITE_STORED_IDS, (payload,)).scalar_one()
        stored = set(orjson.loads(found))
        return [row for row in rows if row["log_id"] not in stored]

    def flat_values(self, rows: Sequence[Row]) -> list[Any]:
        """SQLite: every row's values in statement order, one flat list, converted.

        The writer's hottest Python loop: no per-row dict or tuple.
        """
        flat: list[Any] = []
        append = flat.append
        steps = self._steps
        for row in rows:
            for key, processor in steps:
                value = row[key]
                append(value if processor is None or value is None else processor(value))
        return flat

    def columns(self, rows: Sequence[Row]) -> dict[str, list[Any]]:
        """PostgreSQL: one converted array per column, for the unnest insert."""
        columns = {key: [row[key] for row in rows] for key in self.keys}
        for key, processor in self._processors:
            columns[key] = [processor(value) for value in columns[key]]
        return columns


def _sqlite_step(key: str, processor: Any) -> Any:
    """How the SQLite insert converts one column: sqlite3 binds bools itself (as 1 and 0, what
    the Boolean processor makes), and datetimes go through `_sqlite_datetime`."""
    column_type = TABLE.c[key].type
    if isinstance(column_type, Boolean):
        return None
    if isinstance(column_type, DateTime):
        return _sqlite_datetime
    return processor


def _sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME stores ("2026-11-22 01:02:03.000000", the wall time),
    from C instead of a %-format with a dict per value: the writer formats one per row."""
    return value.isoformat(" ", "microseconds")[:26]
