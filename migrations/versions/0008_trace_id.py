"""Keep the OpenTelemetry trace id of each call's request.

Nullable: rows written with tracing off (and every row before this revision) have none.
Not indexed: a trace is found from a row, not rows from a trace.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.drop_column("trace_id")
