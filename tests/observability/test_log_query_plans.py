"""`logs?success=false` pages walk the failures index on SQLite, not the whole log."""

from datetime import datetime
from pathlib import Path

from sqlalchemy import select, tuple_

from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.models import ExternalApiLog
from app.queries.logs import LogFilter, decode_cursor


def query_plan(url: str, cursor: str | None) -> str:
    log = ExternalApiLog
    query = LogFilter(success=False).apply(select(log))
    if cursor is not None:
        at, row_id = decode_cursor(cursor)
        query = query.where(tuple_(log.created_at, log.id) < tuple_(at, row_id))
    query = query.order_by(log.created_at.desc(), log.id.desc()).limit(51)
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            compiled = query.compile(dialect=engine.dialect)
            # The page binds `success` as a parameter, as the route does: the planner must see
            # through it to the partial index. The values' text format does not change a plan.
            values = [compiled.params[name] for name in compiled.positiontup or ()]
            values = [str(v) if isinstance(v, datetime) else v for v in values]
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(values)).all()
    finally:
        engine.dispose()
    return " | ".join(row[-1] for row in rows)


def test_failure_pages_walk_the_partial_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    upgrade_to_head(url)
    first = query_plan(url, None)
    assert first == "SCAN external_api_logs USING INDEX ix_external_api_logs_failures_created_at_id"
    later = query_plan(url, "1795348970123456-1042")
    assert "USING INDEX ix_external_api_logs_failures_created_at_id" in later
    assert "TEMP B-TREE" not in first + later  # no sort: the index is the page's order
