"""Retention: old rows go in small batches, recent rows stay; the CLI command runs it."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert

from app.calllog.prune import prune_logs
from app.calllog.rows import TABLE, to_row
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from tests.calllog.helpers import result, row_counts

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def seed(engine: Engine, days_old: list[int]) -> None:
    rows = []
    for i, days in enumerate(days_old):
        row = to_row(f"req-{days}d-{i}", result("weather"))
        row["created_at"] = NOW - timedelta(days=days, minutes=1)
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(insert(TABLE), rows)


def test_prune_deletes_only_old_rows_one_small_transaction_at_a_time(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    seed(engine, [40] * 25 + [31] * 2 + [29] * 5 + [0] * 3)
    transactions: list[int] = []

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        transactions.append(1)

    assert prune_logs(engine, 30, batch_size=10, now=NOW) == 27
    assert len(transactions) == 3  # 10 + 10 + 7, never one long delete
    total, _, per_request = row_counts(database_url)
    assert total == 8
    assert all("-29d-" in r or "-0d-" in r for r in per_request)
    assert prune_logs(engine, 30, batch_size=10, now=NOW) == 0
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
    done = subprocess.run(
        [sys.executable, "-m", "app", "prune-logs", "--older-than-days", "7", "--batch-size", "5"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": sqlite_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "deleted 1 call-log rows older than 7 days" in done.stdout
    assert row_counts(sqlite_url)[2] == {"new": 1}
