"""The writer keeps the 5-minute rollup equal to a rebuild from the rows, on both databases:
fresh batches, replays with duplicates, COPY's fallback, a spool replayed at start-up and
concurrent writers; plus the rebuild itself and its command."""

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from app.calllog import CallLogWriter, Durability
from app.calllog.insert import BatchInsert
from app.calllog.rollup import ROLLUPS
from app.calllog.rollup_rebuild import rebuild_rollups
from app.calllog.row import TABLE, Row, to_row
from app.calllog.spool import Spool
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.queries.logs import as_utc
from tests.calllog.helpers import result, row_counts, run_cli
from tests.support.polling import wait_until

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KINDS = [None, None, None, "timeout", "http_status", "validation_error"]


def calls(count: int, *, seed: int = 1, providers: int = 4, span_s: float = 1800) -> list[Row]:
    """Rows over the last `span_s` seconds: several buckets, providers, kinds and latencies."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        kind = rng.choice(KINDS)
        row = to_row(f"req-{seed}-{i // 5}", result(f"p{i % providers}", ok=kind is None))
        row.update(
            created_at=NOW - timedelta(seconds=rng.uniform(0, span_s)),
            response_time_ms=round(rng.lognormvariate(3.5, 1.0), 3),
            error_kind=kind,
            is_validation_error=kind == "validation_error",
        )
        rows.append(row)
    return rows


def rollup(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        found = conn.execute(select(ROLLUPS).order_by(ROLLUPS.c.bucket_start, ROLLUPS.c.provider))
        return [(as_utc(row[0]), *row[1:]) for row in found]


def assert_rollup_is_the_rows(engine: Engine, expected_calls: int) -> None:
    kept = rollup(engine)
    assert sum(row[2] for row in kept) == expected_calls
    rebuild_rollups(engine)
    assert kept == rollup(engine)


def test_fresh_batches_and_replays_with_duplicates_count_each_row_once(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    insert = BatchInsert(engine)
    rows = calls(400)
    insert.fresh(rows[:150])
    insert.fresh(rows[150:250])  # the same buckets again: read, add, write back
    insert([*rows[100:200], *rows[250:]])  # a replay: 100 rows already stored
    insert(rows[:50])  # a replay of rows all stored: nothing to add
    assert row_counts(database_url)[:2] == (400, 400)
    assert_rollup_is_the_rows(engine, 400)
    engine.dispose()


def test_copy_meeting_a_replayed_row_counts_it_once(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    insert = BatchInsert(engine)
    rows = calls(40, seed=2)
    insert(rows[:15])  # the replay of a batch spooled after its commit bound
    insert.fresh(rows)  # its late first write (PostgreSQL: COPY fails, falls back)
    assert_rollup_is_the_rows(engine, 40)
    engine.dispose()


def test_a_spool_replayed_at_start_up_counts_rows_already_stored_once(
    database_url: str, tmp_path: Path
) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    rows = calls(120, seed=3)
    BatchInsert(engine).fresh(rows[:70])  # committed, but after the writer gave up on them
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    spool.append(rows[:60])
    spool.append(rows[60:])
    spool.close()
    writer = CallLogWriter(engine, durability=Durability.FAST, spool_dir=tmp_path, batch_size=25)
    writer.start()
    try:
        wait_until(lambda: writer.stats().spool_rows == 0)
    finally:
        writer.close()
    assert row_counts(database_url)[:2] == (120, 120)
    assert_rollup_is_the_rows(engine, 120)
    engine.dispose()


def test_concurrent_writers_never_lose_or_double_a_count(database_url: str) -> None:
    """Worker processes each run a writer: they merge into the same buckets at once."""
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url, pool_size=8)
    writers, batches = 4, 12
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        insert = BatchInsert(engine)
        start.wait()
        try:
            for b in range(batches):
                # Providers in a different order per writer: locks must still be taken in order.
                insert.fresh(calls(40, seed=100 * n + b, providers=3 + n % 2, span_s=600))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert_rollup_is_the_rows(engine, writers * batches * 40)
    engine.dispose()


def test_rebuild_recomputes_only_the_buckets_of_its_range(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    rows = calls(300, seed=4, span_s=3600)
    with engine.begin() as conn:  # behind the writer's back: no rollup yet
        conn.execute(insert(TABLE), rows)
    # 11:32:10 .. 11:41:00 rounds out to the buckets 11:30, 11:35 and 11:40.
    rebuild_rollups(engine, NOW - timedelta(minutes=27, seconds=50), NOW - timedelta(minutes=19))
    starts = {row[0] for row in rollup(engine)}
    assert starts == {NOW - timedelta(minutes=m) for m in (30, 25, 20)}
    in_range = [r for r in rows if NOW - timedelta(minutes=30) <= r["created_at"]]
    in_range = [r for r in in_range if r["created_at"] < NOW - timedelta(minutes=15)]
    assert sum(row[2] for row in rollup(engine)) == len(in_range)
    assert rebuild_rollups(engine) == 300  # everything: the other buckets appear
    assert sum(row[2] for row in rollup(engine)) == 300
    with engine.begin() as conn:
        conn.execute(TABLE.delete())
    assert rebuild_rollups(engine) == 0  # rows gone: their buckets go too
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ROLLUPS)).scalar_one() == 0
    engine.dispose()


def test_rebuild_rollups_command(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    rows = calls(30, seed=5)
    with engine.begin() as conn:
        conn.execute(insert(TABLE), rows)
    done = run_cli(sqlite_url, "rebuild-rollups", "--since", "2026-11-22T11:00:00")
    assert "rebuilt call-log rollups from 30 rows" in done.stdout
    assert sum(row[2] for row in rollup(engine)) == 30
    engine.dispose()
