"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.core.db import create_db_engine
from app.core.migrate import alembic_config, upgrade_to_head
from app.models import Base

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
    assert {"ix_external_api_logs_provider", "ix_external_api_logs_request_id"} <= indexes


def test_downgrade_to_base_and_back(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            assert "external_api_logs" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()
    command.upgrade(config, "head")
