"""Reading call-log rows: keyset pages (newest first) and one fan-out's rows."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, true, tuple_
from sqlalchemy.orm import Session

from app.models import ExternalApiLog
from app.queries.schemas import LogRow

MAX_PAGE = 500


class BadCursorError(ValueError):
    """A cursor that this service did not hand out."""


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC, PostgreSQL an aware time in the session zone.

    Bound the other way, SQLite stores the wall time of whatever it gets: binding UTC keeps
    its text comparable with the stored rows (all written as UTC).
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# `<created_at in µs since 1970>-<id>`: every string of this shape is a valid position, so the
# OpenAPI pattern alone decides what a client may send (16 digits reach the year 2286).
CURSOR_PATTERN = r"^\d{1,16}-\d{1,18}$"


def encode_cursor(created_at: datetime, row_id: int) -> str:
    return f"{(as_utc(created_at) - _EPOCH) // _MICROSECOND}-{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadCursorError("cursor is not one this service returned")
    micros, row_id = cursor.split("-")
    return _EPOCH + int(micros) * _MICROSECOND, int(row_id)


@dataclass(frozen=True, slots=True)
class LogFilter:
    provider: list[str] | None = None
    success: bool | None = None
    error_kind: list[str] | None = None
    validation_errors_only: bool = False
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        log = ExternalApiLog
        if self.provider:
            query = query.where(log.provider.in_(self.provider))
        if self.success is not None:
            query = query.where(log.success == self.success)
        if self.error_kind:
            query = query.where(log.error_kind.in_(self.error_kind))
        if self.validation_errors_only:
            query = query.where(log.is_validation_error == true())
        if self.since is not None:
            query = query.where(log.created_at >= as_utc(self.since))
        if self.until is not None:
            query = query.where(log.created_at < as_utc(self.until))
        if self.request_id is not None:
            query = query.where(log.request_id == self.request_id)
        return query


def to_log_row(row: ExternalApiLog) -> LogRow:
    return LogRow(
        id=row.id,
        request_id=row.request_id,
        provider=row.provider,
        success=row.success,
        is_validation_error=row.is_validation_error,
        response_time_ms=row.response_time_ms,
        status_code=row.status_code,
        error_kind=row.error_kind,
        attempts=row.attempts,
        error_message=row.error_message,
        data=row.data,
        breaker_state=row.breaker_state,
        stale=row.stale,
        created_at=as_utc(row.created_at),
        cache=row.cache,
        coalesced=row.coalesced,
        won_attempt=row.won_attempt,
        trace_id=row.trace_id,
    )


def log_page(
    session: Session, filters: LogFilter, *, limit: int, cursor: str | None
) -> tuple[list[LogRow], str | None]:
    """One page, newest first, keyed on (created_at, id) so pages never shift or repeat."""
    log = ExternalApiLog
    query = filters.apply(select(log))
    if cursor is not None:
        at, row_id = decode_cursor(cursor)
        query = query.where(tuple_(log.created_at, log.id) < tuple_(as_utc(at), row_id))
    query = query.order_by(log.created_at.desc(), log.id.desc()).limit(limit + 1)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return [to_log_row(r) for r in rows], next_cursor


def fanout_rows(session: Session, request_id: str) -> list[LogRow]:
    log = ExternalApiLog
    query = select(log).where(log.request_id == request_id).order_by(log.created_at.asc(), log.id)
    return [to_log_row(r) for r in session.scalars(query)]
