"""Recompute rollup buckets from the rows: the migration's backfill, the benchmark, and
`python -m app rebuild-rollups` for rows written behind the writer's back (a restore, a manual
insert). Latencies are binned by `histogram.latency_bin`, as the writer bins them.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Engine, delete, func, select

from app.calllog.rollup import ROLLUPS, Call, bucket_of, bucket_time, epoch_seconds, tally
from app.calllog.row import TABLE
from app.models import ROLLUP_BUCKET_S

logger = logging.getLogger(__name__)

_CHUNK = timedelta(hours=6)


def _aligned_up(value: datetime) -> int:
    start = bucket_of(value)
    return start if epoch_seconds(value) == start else start + ROLLUP_BUCKET_S


def rebuild_range(conn: Connection, since: datetime, until: datetime) -> int:
    """Recompute every bucket overlapping [since, until) from its rows; returns rows read.

    In the caller's transaction, with the rollup table locked against writers first, so a row
    committed meanwhile is either read here or merged after this rebuild, never both or neither.
    """
    lo, hi = bucket_time(bucket_of(since)), bucket_time(_aligned_up(until))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {ROLLUPS.name} IN SHARE ROW EXCLUSIVE MODE")
    # On SQLite this first write takes the database's write lock, before the rows are read.
    conn.execute(delete(ROLLUPS).where(ROLLUPS.c.bucket_start >= lo, ROLLUPS.c.bucket_start < hi))
    rows = conn.execute(
        select(
            TABLE.c.created_at,
            TABLE.c.provider,
            TABLE.c.success,
            TABLE.c.is_validation_error,
            TABLE.c.error_kind,
            TABLE.c.response_time_ms,
        )
        .where(TABLE.c.created_at >= lo, TABLE.c.created_at < hi)
        # Streamed (a server-side cursor on PostgreSQL): only the tallies stay in memory.
        .execution_options(yield_per=20_000)
    )
    read = 0

    def counted() -> Iterator[Call]:
        nonlocal read
        for row in rows:
            read += 1
            yield cast(Call, row)

    tallies = tally(counted())
    if tallies:
        conn.execute(
            ROLLUPS.insert(),
            [
                {"bucket_start": bucket_time(k[0]), "provider": k[1], **tallies[k].columns()}
                for k in sorted(tallies)
            ],
        )
    return read


def stored_range(conn: Connection) -> tuple[datetime, datetime] | None:
    """From the oldest row or bucket to just past the newest; None when both tables are empty."""
    oldest_row, newest_row = conn.execute(
        select(func.min(TABLE.c.created_at), func.max(TABLE.c.created_at))
    ).one()
    oldest_bucket, newest_bucket = conn.execute(
        select(func.min(ROLLUPS.c.bucket_start), func.max(ROLLUPS.c.bucket_start))
    ).one()
    starts = [epoch_seconds(t) for t in (oldest_row, oldest_bucket) if t is not None]
    if not starts:
        return None
    ends = [epoch_seconds(t) + 1 for t in (newest_row,) if t is not None]
    ends += [epoch_seconds(t) + ROLLUP_BUCKET_S for t in (newest_bucket,) if t is not None]
    return datetime.fromtimestamp(min(starts), UTC), datetime.fromtimestamp(max(ends), UTC)


def rebuild_chunks(since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[since, until) in bucket-aligned pieces: one piece's tallies are held in memory."""
    start = bucket_time(bucket_of(since))
    while start < until:
        end = min(start + _CHUNK, until)
        yield start, end
        start = end


def rebuild_rollups(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Rebuild the buckets overlapping [since, until) (default: everything stored), 6 hours per
    transaction, so the writer never waits on more than one chunk. Returns the rows read."""
    if since is None or until is None:
        with engine.connect() as conn:
            stored = stored_range(conn)
        if stored is None:
            return 0
        since, until = since or stored[0], until or stored[1]
    total = 0
    for start, end in rebuild_chunks(since, until):
        with engine.begin() as conn:
            total += rebuild_range(conn, start, end)
    logger.info("call log rollup: rebuilt %s .. %s from %d rows", since, until, total)
    return total
