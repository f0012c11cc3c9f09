"""`BatchInsert.fresh`: COPY on PostgreSQL, the same stored values, and no duplicate on a race."""

from typing import Any

from sqlalchemy import select

from app.calllog.insert import BatchInsert
from app.calllog.row import to_row
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.models import ExternalApiLog
from tests.calllog.helpers import result


def stored(url: str) -> list[tuple[Any, ...]]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            table = ExternalApiLog.__table__.c
            rest = [c for c in table if c.name not in ("id", "log_id", "provider")]
            query = select(table.log_id, table.provider, *rest).order_by(table.log_id)
            return [tuple(r) for r in conn.execute(query).all()]
    finally:
        engine.dispose()


def test_fresh_stores_what_the_idempotent_insert_stores(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    insert = BatchInsert(engine)
    rows = [to_row("req", result(f"p{i}", ok=i % 3 != 0)) for i in range(30)]
    insert.fresh(rows[:15])
    insert(rows[15:])
    engine.dispose()
    values = stored(database_url)
    assert len(values) == 30
    by_path = {v[0]: v for v in values}
    fresh_row, generic_row = by_path[rows[0]["log_id"]], by_path[rows[15]["log_id"]]
    # Same provider pattern (p0 fails, p15 fails): every other column must agree.
    assert fresh_row[2:] == generic_row[2:]


def test_fresh_after_a_replay_raced_ahead_leaves_one_row_each(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    insert = BatchInsert(engine)
    rows = [to_row("req", result(f"p{i}")) for i in range(10)]
    insert(rows[:4])  # the replay of a batch spooled after its commit bound
    insert.fresh(rows)  # its late first write: COPY meets the unique index, falls back
    engine.dispose()
    assert sorted(v[0] for v in stored(database_url)) == sorted(r["log_id"] for r in rows)
