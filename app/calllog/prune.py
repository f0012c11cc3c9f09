"""Retention: delete call-log rows older than N days, a small batch per transaction.

Each batch is its own short transaction, so the writer (and PostgreSQL autovacuum, and SQLite's
single writer lock) get the table back between batches instead of waiting for one long delete.
The cutoff is rounded down to a rollup bucket (5 minutes), and the rollup's buckets before it
go too: a bucket is never left counting rows that were deleted.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, tuple_

from app.calllog.rollup import ROLLUPS, bucket_of, bucket_time
from app.calllog.row import TABLE

logger = logging.getLogger(__name__)


def prune_logs(
    engine: Engine,
    older_than_days: int,
    *,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> int:
    """Delete rows created before now minus `older_than_days`; returns how many."""
    if older_than_days < 0 or batch_size <= 0:
        raise ValueError("older_than_days must be >= 0 and batch_size > 0")
    cutoff = bucket_time(bucket_of((now or datetime.now(UTC)) - timedelta(days=older_than_days)))
    oldest = (
        select(TABLE.c.id)
        .where(TABLE.c.created_at < cutoff)
        .order_by(TABLE.c.created_at, TABLE.c.id)
        .limit(batch_size)
    )
    rows = _delete_in_batches(
        engine, delete(TABLE).where(TABLE.c.id.in_(oldest.scalar_subquery())), batch_size
    )
    key = tuple_(ROLLUPS.c.bucket_start, ROLLUPS.c.provider)
    oldest_buckets = (
        select(ROLLUPS.c.bucket_start, ROLLUPS.c.provider)
        .where(ROLLUPS.c.bucket_start < cutoff)
        .order_by(ROLLUPS.c.bucket_start, ROLLUPS.c.provider)
        .limit(batch_size)
    )
    buckets = _delete_in_batches(engine, delete(ROLLUPS).where(key.in_(oldest_buckets)), batch_size)
    logger.info(
        "call log prune: %d rows and %d rollup buckets older than %s deleted",
        rows,
        buckets,
        cutoff.isoformat(),
    )
    return rows


def _delete_in_batches(engine: Engine, statement: Any, batch_size: int) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(statement).rowcount
        total += deleted
        if deleted < batch_size:
            return total
