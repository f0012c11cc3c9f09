"""Retention: old rows and rollup buckets go in small batches, recent ones stay; the CLI runs it."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, insert, select

from app.calllog.insert import BatchInsert
from app.calllog.prune import prune_logs
from app.calllog.rollup import ROLLUPS
from app.calllog.row import TABLE, to_row
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from tests.calllog.helpers import result, row_counts, run_cli

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def seed(engine: Engine, days_old: list[int]) -> None:
    """Through the writer's insert, so the rollup holds their buckets too."""
    rows = []
    for i, days in enumerate(days_old):
        row = to_row(f"req-{days}d-{i}", result("weather"))
        row["created_at"] = NOW - timedelta(days=days, minutes=1)
        rows.append(row)
    BatchInsert(engine).fresh(rows)


def rollup_buckets(engine: Engine) -> list[tuple[object, int]]:
    with engine.connect() as conn:
        query = select(ROLLUPS.c.bucket_start, ROLLUPS.c.calls).order_by(ROLLUPS.c.bucket_start)
        return [(start, calls) for start, calls in conn.execute(query)]


def test_prune_deletes_only_old_rows_one_small_transaction_at_a_time(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    seed(engine, [40] * 25 + [31] * 2 + [29] * 5 + [0] * 3)
    transactions: list[int] = []

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        transactions.append(1)

    assert [calls for _, calls in rollup_buckets(engine)] == [25, 2, 5, 3]

    assert prune_logs(engine, 30, batch_size=10, now=NOW) == 27
    # Rows 10 + 10 + 7, never one long delete; then the two old rollup buckets.
    assert len(transactions) == 4
    total, _, per_request = row_counts(database_url)
    assert total == 8
    assert all("-29d-" in r or "-0d-" in r for r in per_request)
    assert [calls for _, calls in rollup_buckets(engine)] == [5, 3]
    assert prune_logs(engine, 30, batch_size=10, now=NOW) == 0
    engine.dispose()


def test_prune_rounds_the_cutoff_down_to_a_whole_rollup_bucket(database_url: str) -> None:
    """A bucket is deleted whole or kept whole, so it never counts rows that are gone."""
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    rows = []
    for minutes in (36, 33, 31):  # 11:24, 11:27 (the cutoff's bucket: 11:25) and 11:29
        row = to_row(f"req-{minutes}m", result("weather"))
        row["created_at"] = NOW - timedelta(minutes=minutes)
        rows.append(row)
    BatchInsert(engine).fresh(rows)
    # The cutoff is 11:28, inside the 11:25 bucket: only the 11:20 bucket can go.
    assert prune_logs(engine, 0, now=NOW - timedelta(minutes=32)) == 1
    assert set(row_counts(database_url)[2]) == {"req-33m", "req-31m"}
    assert [calls for _, calls in rollup_buckets(engine)] == [2]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TABLE)).scalar_one() == 2
    engine.dispose()


def test_prune_logs_command(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    now = datetime.now(UTC)
    old = to_row("old", result("weather"))
    old["created_at"] = now - timedelta(days=10)
    new = to_row("new", result("weather"))
    new["created_at"] = now
    with engine.begin() as conn:
        conn.execute(insert(TABLE), [old, new])
    engine.dispose()
    done = run_cli(sqlite_url, "prune-logs", "--older-than-days", "7", "--batch-size", "5")
    assert "deleted 1 call-log rows older than 7 days" in done.stdout
    assert row_counts(sqlite_url)[2] == {"new": 1}
