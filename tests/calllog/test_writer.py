"""The writer against real databases: group commit, both modes, back-pressure, shutdown."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from app.calllog import CallLogBackpressureError, CallLogWriter, Durability
from app.calllog.insert import BatchInsert, idempotent_insert, insert_rows
from app.calllog.row import to_row
from app.calllog.spool import Spool
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.models import ExternalApiLog
from tests.calllog.helpers import result, row_counts
from tests.support.polling import wait_until


def count_inserts(engine: Engine) -> list[int]:
    """Transactions that wrote: one per batch, whether an INSERT or (PostgreSQL) a COPY."""
    inserts: list[int] = []

    @event.listens_for(engine, "commit")
    def _count(conn: Any) -> None:
        inserts.append(1)

    return inserts


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(ExternalApiLog).order_by(ExternalApiLog.id)).all())


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ExternalApiLog)).scalar_one())


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def test_fast_mode_batches_span_requests_and_keep_every_column(
    database_url: str, spool_dir: Path
) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    inserts = count_inserts(engine)
    # A generous commit bound: a slow first commit on a busy machine would otherwise spool the
    # batch, and this test is about batching, not the spool fallback.
    writer = CallLogWriter(
        engine,
        durability=Durability.FAST,
        spool_dir=spool_dir,
        batch_size=12,
        flush_interval_s=5,
        commit_timeout_s=30,
    )
    writer.start()
    try:
        for request in range(3):
            writer.submit(f"req-{request}", [result(f"p{i}", ok=i % 2 == 0) for i in range(4)])
        wait_until(lambda: writer.stats().written == 12)
    finally:
        writer.close()
    assert len(inserts) == 1  # three requests, one transaction
    rows = stored(engine)
    assert [r.request_id for r in rows].count("req-1") == 4
    assert len({r.log_id for r in rows}) == 12
    failed = next(r for r in rows if not r.success)
    assert (failed.error_kind, failed.status_code, failed.attempts, failed.data) == (
        "http_status",
        503,
        2,
        None,
    )
    ok = next(r for r in rows if r.success)
    assert ok.data == {"v": 1}
    assert ok.created_at.isoformat().startswith("2026-11-22T01:02:03")
    engine.dispose()


async def test_strict_mode_returns_once_rows_are_journaled_then_stores_them(
    database_url: str, spool_dir: Path
) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    # A flush window longer than the test: what the answers waited for is the journal alone.
    writer = CallLogWriter(
        engine, durability=Durability.STRICT, spool_dir=spool_dir, flush_interval_s=60
    )
    writer.start()
    try:
        await asyncio.gather(
            *(writer.record(f"req-{i}", [result("a"), result("b")]) for i in range(20))
        )
        # No polling: the awaits returned, so every row is already synced to the journal.
        assert writer.spool_path is not None
        journal = Spool(spool_dir, 1 << 30)
        journal.open_at(writer.spool_path.with_suffix(".journal"))
        journaled = journal.read_chunk(1000).rows
        journal.close()
        assert sorted(r["request_id"] for r in journaled) == sorted(
            f"req-{i}" for i in range(20) for _ in "ab"
        )
        assert (count(engine), writer.stats().journaled) == (0, 40)
        assert writer.health().healthy
    finally:
        await asyncio.to_thread(writer.close)  # flushes the journaled rows to the database
    assert count(engine) == 40
    stats = writer.stats()
    assert (stats.written, stats.spooled, stats.queued) == (40, 0, 0)
    assert writer.spool_path.with_suffix(".journal").stat().st_size == 0
    engine.dispose()


async def test_strict_mode_flushes_the_journal_within_its_window(
    sqlite_url: str, spool_dir: Path
) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    writer = CallLogWriter(
        engine, durability=Durability.STRICT, spool_dir=spool_dir, flush_interval_s=0.05
    )
    writer.start()
    try:
        await writer.record("req-1", [result("a"), result("b")])
        await asyncio.to_thread(wait_until, lambda: writer.stats().written == 2)
        assert writer.spool_path is not None
        assert writer.spool_path.with_suffix(".journal").stat().st_size == 0
    finally:
        await asyncio.to_thread(writer.close)
    engine.dispose()


def test_a_journal_left_by_a_crash_is_stored_once_at_start(
    sqlite_url: str, spool_dir: Path
) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    rows = [to_row("req-1", result("a")), to_row("req-1", result("b"))]
    BatchInsert(engine)(rows[:1])  # flushed just before the crash, the journal not yet cleared
    spool_dir.mkdir(parents=True)
    left = Spool(spool_dir, 1 << 30)
    left.open_at(spool_dir / "calllog-0.journal")  # the slot `open` takes first
    left.append(rows)
    left.close()
    writer = CallLogWriter(engine, durability=Durability.STRICT, spool_dir=spool_dir)
    writer.start()
    try:
        wait_until(lambda: writer.stats().spool_rows == 0 and writer.stats().replayed == 2)
        assert (spool_dir / "calllog-0.journal").stat().st_size == 0
    finally:
        writer.close()
    assert row_counts(sqlite_url)[:3] == (2, 2, {"req-1": 2})
    engine.dispose()


def test_the_writers_fast_insert_stores_what_the_generic_insert_stores(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    generic = [to_row("generic", result("a")), to_row("generic", result("b", ok=False))]
    fast = [to_row("fast", result("a")), to_row("fast", result("b", ok=False))]
    insert_rows(engine, idempotent_insert(engine.dialect.name), generic)
    batch_insert = BatchInsert(engine)
    batch_insert(fast)
    batch_insert(fast)  # a replay: ignored on conflict
    rows = stored(engine)
    assert len(rows) == 4
    assert {r.log_id for r in rows} == {r["log_id"] for r in generic + fast}

    def comparable(row: Any) -> dict[str, Any]:
        values = dict(row._mapping)
        for key in ("id", "log_id", "request_id"):
            values.pop(key)
        return values

    assert [comparable(r) for r in rows[:2]] == [comparable(r) for r in rows[2:]]
    engine.dispose()


def test_a_replayed_row_is_never_inserted_twice(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    rows = [to_row("req", result("a")), to_row("req", result("b"))]
    statement = idempotent_insert(engine.dialect.name)
    insert_rows(engine, statement, rows)
    insert_rows(engine, statement, [*rows, to_row("req", result("c"))])
    assert sorted(r.provider for r in stored(engine)) == ["a", "b", "c"]
    engine.dispose()


async def test_failing_database_spools_then_replays_once_it_recovers(
    sqlite_url: str, spool_dir: Path
) -> None:
    engine = create_db_engine(sqlite_url)  # no table yet: every insert fails
    writer = CallLogWriter(engine, durability=Durability.STRICT, spool_dir=spool_dir)
    writer.start()
    try:
        await writer.record("req-1", [result("a"), result("b")])
        await writer.record("req-2", [result("c")])
        # Journaled at once; the flush that follows fails and puts them in the spool.
        await asyncio.to_thread(wait_until, lambda: writer.stats().spooled == 3)
        stats = writer.stats()
        assert stats.spool_rows == 3 and stats.failed_batches >= 1
        assert not stats.database_available and not stats.alarm
        assert writer.health().healthy  # rows are durable in the spool
        upgrade_to_head(sqlite_url)
        wait_until(lambda: writer.stats().spool_rows == 0)
        assert writer.spool_path is not None and writer.spool_path.stat().st_size == 0
    finally:
        await asyncio.to_thread(writer.close)
    total, distinct, per_request = row_counts(sqlite_url)
    assert (total, distinct, per_request) == (3, 3, {"req-1": 2, "req-2": 1})
    assert writer.stats().replayed == 3
    engine.dispose()


def test_fast_mode_full_queue_spills_to_the_spool_and_drops_only_loudly(
    sqlite_url: str, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    writer = CallLogWriter(
        engine, durability=Durability.FAST, spool_dir=spool_dir, max_queue_rows=4, batch_size=2
    )
    for i in range(4):  # not started: twice the bound is accepted, for the spill
        writer.submit(f"req-{i}", [result("a"), result("b")])
    assert writer.stats().dropped == 0
    writer.submit("req-lost", [result("a")])
    stats = writer.stats()
    assert (stats.queued, stats.dropped, stats.alarm) == (8, 1, True)
    assert "rows dropped" in caplog.text
    assert not writer.health().healthy
    writer.start()
    try:
        wait_until(lambda: writer.stats().queued == 0 and writer.stats().spool_rows == 0)
    finally:
        writer.close()
    stats = writer.stats()
    assert stats.spooled >= 4  # the rows over the bound went to the spool, not the database
    assert row_counts(sqlite_url)[:2] == (8, 8)
    engine.dispose()


async def test_strict_mode_full_queue_pushes_back_without_blocking_the_loop(
    sqlite_url: str, spool_dir: Path
) -> None:
    upgrade_to_head(sqlite_url)
    engine = create_db_engine(sqlite_url)
    writer = CallLogWriter(
        engine, durability=Durability.STRICT, spool_dir=spool_dir, max_queue_rows=2
    )
    first = asyncio.create_task(writer.record("req-1", [result("a"), result("b")]))
    second = asyncio.create_task(writer.record("req-2", [result("c")]))
    for _ in range(100):  # the loop keeps running while both wait
        await asyncio.sleep(0)
    assert not first.done() and not second.done()
    assert writer.stats().queued == 2  # the second request waits for room, not queued
    await asyncio.to_thread(writer.start)
    await asyncio.wait_for(asyncio.gather(first, second), timeout=15)
    await asyncio.to_thread(writer.close)
    assert count(engine) == 3
    engine.dispose()


async def test_strict_mode_gives_up_with_backpressure_error_not_silence(
    sqlite_url: str, spool_dir: Path
) -> None:
    engine = create_db_engine(sqlite_url)
    writer = CallLogWriter(  # never started: nothing can make rows durable
        engine, durability=Durability.STRICT, spool_dir=spool_dir, strict_max_wait_s=0.05
    )
    with pytest.raises(CallLogBackpressureError, match="not durable"):
        await writer.record("req", [result("a")])
    assert writer.stats().queued == 1  # kept, not dropped
    engine.dispose()


def test_close_flushes_what_is_queued(database_url: str, spool_dir: Path) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    writer = CallLogWriter(
        engine,
        durability=Durability.FAST,
        spool_dir=spool_dir,
        batch_size=1000,
        flush_interval_s=60.0,
        commit_timeout_s=30,
    )
    writer.start()
    writer.submit("req", [result("a"), result("b"), result("c")])
    writer.close()
    assert count(engine) == 3
    engine.dispose()
