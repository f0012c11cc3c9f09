"""Retention: delete call-log rows older than N days, a small batch per transaction.

Each batch is its own short transaction, so the writer (and PostgreSQL autovacuum, and SQLite's
single writer lock) get the table back between batches instead of waiting for one long delete.
"""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select

from app.calllog.rows import TABLE

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
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    oldest = (
        select(TABLE.c.id)
        .where(TABLE.c.created_at < cutoff)
        .order_by(TABLE.c.created_at, TABLE.c.id)
        .limit(batch_size)
    )
    statement = delete(TABLE).where(TABLE.c.id.in_(oldest.scalar_subquery()))
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(statement).rowcount
        total += deleted
        if deleted < batch_size:
            logger.info("call log prune: %d rows older than %s deleted", total, cutoff.isoformat())
            return total
