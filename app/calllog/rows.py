"""Rows of `external_api_logs`: built from results, inserted idempotently, encoded for the spool.

Every row carries `log_id`, generated here once per call. The same id travels to the database
and to the spool, and every insert ignores a conflict on it, so writing a row twice (a commit
that finished after we gave up on it, a spool replayed after a crash) still leaves one row.
The one exception is the first write of a fresh batch on PostgreSQL, which uses COPY (it
cannot skip conflicts) and falls back to the ignore-on-conflict insert if it meets one.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from psycopg.errors import UniqueViolation
from sqlalchemy import Engine, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from app.integrations.redaction import redact_text
from app.integrations.schemas import ExternalResponse
from app.models import ExternalApiLog
from app.models.external_api_log import new_log_id

Row = dict[str, Any]

TABLE = cast(Table, ExternalApiLog.__table__)


def to_row(request_id: str, result: ExternalResponse) -> Row:
    return {
        "log_id": new_log_id(),
        "provider": result.provider,
        "success": result.success,
        "is_validation_error": result.is_validation_error,
        "response_time_ms": result.response_time_ms,
        "data": result.data,
        "error_message": result.error_message,
        "created_at": result.started_at,
        "request_id": request_id,
        "status_code": result.status_code,
        "error_kind": result.error_kind.value if result.error_kind else None,
        "attempts": result.attempts,
        "breaker_state": result.breaker_state,
        "stale": result.stale,
    }


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
    """The writer's insert: the idempotent statement compiled once per column set, parameters
    converted with the column types' own bind processors, then one driver-level executemany.

    Same SQL and stored values as `insert_rows`, without SQLAlchemy's generic per-row parameter
    machinery, which costs several times the database's own work at batch sizes we use.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._statement = idempotent_insert(engine.dialect.name)
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
        except UniqueViolation:
            self(rows)

    def __call__(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        keys = tuple(rows[0])
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = _Plan(self._engine, self._statement, keys)
        params = plan.parameters(rows)
        with Session(self._engine) as session, session.begin():
            session.connection().exec_driver_sql(plan.sql, params)


class _Plan:
    def __init__(self, engine: Engine, statement: Insert, keys: tuple[str, ...]) -> None:
        dialect = engine.dialect
        self.columnar = dialect.name == "postgresql"
        if self.columnar:
            # One statement, one round trip: a column array per column, unnested server-side.
            arrays = ", ".join(
                f"%({k})s::{TABLE.c[k].type.compile(dialect=dialect)}[]" for k in keys
            )
            # Identifiers come from our own table metadata; every value is a bound parameter.
            self.sql = (
                f"INSERT INTO {TABLE.name} ({', '.join(keys)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
                "ON CONFLICT (log_id) DO NOTHING"
            )
            self._order: tuple[str, ...] | None = keys
        else:
            compiled = statement.values({k: bindparam(k) for k in keys}).compile(dialect=dialect)
            self.sql = compiled.string
            self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._processors = [
            (key, processor)
            for key in keys
            # The dialect's own implementation: it is what formats SQLite datetimes, for one.
            if (processor := TABLE.c[key].type.dialect_impl(dialect).bind_processor(dialect))
            is not None
        ]

    def parameters(self, rows: Sequence[Row]) -> Any:
        converted = [dict(row) for row in rows]
        for key, processor in self._processors:
            for row in converted:
                row[key] = processor(row[key])
        if self.columnar:
            return {k: [row[k] for row in converted] for k in self._order or ()}
        if self._order is None:
            return converted
        order = self._order
        return [tuple(row[k] for k in order) for row in converted]


def describe_db_error(exc: BaseException) -> str:
    """One line about a database failure: the driver's message, never SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [""])[0][:200]
    return redact_text(f"{type(orig).__name__}: {first_line}")


def encode_rows(rows: Sequence[Row]) -> bytes:
    return orjson.dumps(list(rows))


def decode_rows(payload: bytes) -> list[Row]:
    rows: list[Row] = orjson.loads(payload)
    for row in rows:
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return rows
