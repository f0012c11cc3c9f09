"""An app-generated, unique row id: retried and replayed inserts never duplicate a row.

Rows written before this revision get `lpad(hex(id), 32, '0')`: unique, and distinct from
every app-generated id, whose first digits are a non-zero millisecond timestamp.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "external_api_logs"
INDEX = "ix_external_api_logs_log_id"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("log_id", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        backfill = "lpad(to_hex(id), 32, '0')"
    else:
        backfill = "printf('%032x', id)"
    op.execute(f"UPDATE {TABLE} SET log_id = {backfill} WHERE log_id IS NULL")  # noqa: S608
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("log_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_index(INDEX, ["log_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index(INDEX)
        batch.drop_column("log_id")
