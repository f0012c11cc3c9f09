"""Indexes for reading the call log: keyset pages, stats windows, the newest failure.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "external_api_logs"


def upgrade() -> None:
    # Keyset pages use (created_at, id); the rest makes stats windows index-only scans.
    op.create_index(
        "ix_external_api_logs_created_at_id",
        TABLE,
        [
            "created_at",
            "id",
            "provider",
            "success",
            "is_validation_error",
            "error_kind",
            "response_time_ms",
        ],
    )
    op.create_index(
        "ix_external_api_logs_provider_created_at_id",
        TABLE,
        [
            "provider",
            "created_at",
            "id",
            "success",
            "is_validation_error",
            "error_kind",
            "response_time_ms",
        ],
    )
    op.create_index(
        "ix_external_api_logs_failures",
        TABLE,
        ["provider", "created_at"],
        postgresql_where=sa.text("success = false"),
        sqlite_where=sa.text("success = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_external_api_logs_failures", table_name=TABLE)
    op.drop_index("ix_external_api_logs_provider_created_at_id", table_name=TABLE)
    op.drop_index("ix_external_api_logs_created_at_id", table_name=TABLE)
