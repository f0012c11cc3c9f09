"""Create external_api_logs with the seed's columns.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_api_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("is_validation_error", sa.Boolean(), nullable=False),
        sa.Column("response_time_ms", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_api_logs")),
    )
    op.create_index(
        op.f("ix_external_api_logs_provider"), "external_api_logs", ["provider"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_external_api_logs_provider"), table_name="external_api_logs")
    op.drop_table("external_api_logs")
