"""Seed `external_api_logs` directly, at chosen times, for the read-side tests."""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert

from app.calllog.rollup_rebuild import rebuild_rollups
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.models import ExternalApiLog

TABLE = cast(Table, ExternalApiLog.__table__)
# A fixed "now" so windows and buckets are known to the test.
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def call(
    provider: str,
    ms: float,
    *,
    ago_s: float = 60,
    kind: str | None = None,
    status: int | None = 200,
    request_id: str = "req-seed",
    message: str | None = None,
    data: Any = None,
) -> dict[str, Any]:
    """One row; `kind` makes it a failure of that error kind."""
    columns = {c.name for c in TABLE.columns}
    row: dict[str, Any] = {
        "provider": provider,
        "success": kind is None,
        "is_validation_error": kind == "validation_error",
        "response_time_ms": ms,
        "data": data,
        "error_message": message if message is not None else (f"{kind} happened" if kind else None),
        "created_at": NOW - timedelta(seconds=ago_s),
        "request_id": request_id,
        "status_code": status,
        "error_kind": kind,
        "attempts": 1,
    }
    if "log_id" in columns:  # the durable writer's idempotency key, when migrated
        row["log_id"] = uuid.uuid4().hex
    return row


def seed(url: str, rows: Iterable[dict[str, Any]]) -> None:
    upgrade_to_head(url)
    rows = list(rows)
    if not rows:
        return
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(TABLE), rows)
        # Seeded behind the writer's back: build the rollup as the writer would have kept it.
        rebuild_rollups(engine)
    finally:
        engine.dispose()


def percentile_cont(values: list[float], p: float) -> float:
    """The reference: PostgreSQL's definition (linear interpolation between ranks)."""
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
