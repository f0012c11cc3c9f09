"""A per-provider, 5-minute rollup of the call log, and an index for failure pages.

`external_api_log_rollups` (see `app/models/external_api_log_rollup.py`) lets stats windows
longer than an hour read 288 buckets per provider a day instead of every row; it is backfilled
here from the rows already stored, with the same code the writer and `rebuild-rollups` use, so
every latency lands in the same histogram bin. `ix_external_api_logs_failures_created_at_id`
makes `logs?success=false` (newest first, all providers) an index walk.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.calllog.rollup_rebuild import rebuild_chunks, rebuild_range, stored_range

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "external_api_log_rollups"
FAILURES_INDEX = "ix_external_api_logs_failures_created_at_id"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("validation_errors", sa.Integer(), nullable=False),
        sa.Column("errors_by_kind", sa.JSON(), nullable=False),
        sa.Column("latency_first_bin", sa.Integer(), nullable=False),
        sa.Column("latency_counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_start", "provider", name=op.f("pk_" + TABLE)),
        sqlite_with_rowid=False,
    )
    op.create_index(
        FAILURES_INDEX,
        "external_api_logs",
        ["created_at", "id"],
        postgresql_where=sa.text("success = false"),
        sqlite_where=sa.text("success = 0"),
    )
    connection = op.get_bind()
    stored = stored_range(connection)
    if stored is None:
        return
    for start, end in rebuild_chunks(*stored):
        rebuild_range(connection, start, end)


def downgrade() -> None:
    op.drop_index(FAILURES_INDEX, table_name="external_api_logs")
    op.drop_table(TABLE)
