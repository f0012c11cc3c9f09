"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from app.calllog.rollup_rebuild import rebuild_rollups
from app.calllog.row import TABLE as LOGS
from app.core.db import create_db_engine
from app.core.migrate import alembic_config, upgrade_to_head
from app.models import Base, ExternalApiLogRollup

SEED_COLUMNS = {
    "id",
    "provider",
    "success",
    "is_validation_error",
    "response_time_ms",
    "data",
    "error_message",
    "created_at",
}


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            columns = {c["name"] for c in inspect(conn).get_columns("external_api_logs")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("external_api_logs")}
    finally:
        engine.dispose()
    assert columns >= SEED_COLUMNS
    assert {"request_id", "status_code", "error_kind", "attempts"} <= columns
    assert {"breaker_state", "stale", "trace_id", "cache", "coalesced", "won_attempt"} <= columns
    assert {
        "ix_external_api_logs_provider_created_at_id",
        "ix_external_api_logs_request_id",
    } <= indexes
    # Dropped by 0007: the composite index above starts with `provider`.
    assert "ix_external_api_logs_provider" not in indexes


def test_downgrade_to_base_and_back(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            assert "external_api_logs" not in inspect(conn).get_table_names()
            assert "external_api_log_rollups" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()
    command.upgrade(config, "head")


def test_0006_backfills_the_rollup_from_the_rows_already_stored(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0005")
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    rows = [
        {
            "provider": f"p{i % 3}",
            "success": i % 4 != 0,
            "is_validation_error": i % 8 == 0,
            "response_time_ms": 5.0 + i,
            "created_at": now - timedelta(minutes=7 * i),
            "error_kind": None if i % 4 else "timeout",
            "log_id": f"{i:032x}",
        }
        for i in range(200)
    ]
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(LOGS), rows)
        command.upgrade(config, "head")
        with engine.connect() as conn:
            columns = ExternalApiLogRollup.__table__.c
            backfilled = conn.execute(
                select(ExternalApiLogRollup.__table__).order_by(
                    columns.bucket_start, columns.provider
                )
            ).all()
        assert sum(row.calls for row in backfilled) == 200
        assert sum(row.errors_by_kind.get("timeout", 0) for row in backfilled) == 50
        rebuild_rollups(engine)
        with engine.connect() as conn:
            rebuilt = conn.execute(
                select(ExternalApiLogRollup.__table__).order_by(
                    columns.bucket_start, columns.provider
                )
            ).all()
        assert backfilled == rebuilt
    finally:
        engine.dispose()


def test_0008_adds_a_nullable_trace_id_and_keeps_the_rows(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0007")
    row = {
        "provider": "weather",
        "success": True,
        "is_validation_error": False,
        "response_time_ms": 5.0,
        "created_at": datetime(2026, 12, 5, tzinfo=UTC),
        "log_id": "0" * 32,
    }
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(LOGS), [row])
        command.upgrade(config, "0008")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT trace_id FROM external_api_logs")).all() == [(None,)]
            conn.execute(text("UPDATE external_api_logs SET trace_id = :t"), {"t": "a" * 32})
        command.downgrade(config, "0007")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("external_api_logs")}
            count = conn.execute(text("SELECT count(*) FROM external_api_logs")).scalar()
        assert "trace_id" not in columns
        assert count == 1
    finally:
        engine.dispose()


def test_0009_adds_the_reuse_columns_after_the_trace_id_and_keeps_the_rows(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0008")
    row = {
        "provider": "weather",
        "success": True,
        "is_validation_error": False,
        "response_time_ms": 5.0,
        "created_at": datetime(2026, 12, 5, tzinfo=UTC),
        "log_id": "0" * 32,
        "trace_id": "a" * 32,
    }
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(LOGS), [row])
        command.upgrade(config, "0009")
        reuse = "SELECT cache, coalesced, won_attempt, trace_id FROM external_api_logs"
        with engine.begin() as conn:
            assert conn.execute(text(reuse)).all() == [(None, False, None, "a" * 32)]
        command.downgrade(config, "0008")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("external_api_logs")}
            kept = conn.execute(text("SELECT trace_id FROM external_api_logs")).all()
        assert not {"cache", "coalesced", "won_attempt"} & columns
        assert kept == [("a" * 32,)]
    finally:
        engine.dispose()
