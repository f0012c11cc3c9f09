"""Group rows by fan-out and keep the HTTP status, error kind and attempt count.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("error_kind", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="1", nullable=False))
        batch.create_index(op.f("ix_external_api_logs_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.drop_index(op.f("ix_external_api_logs_request_id"))
        batch.drop_column("attempts")
        batch.drop_column("error_kind")
        batch.drop_column("status_code")
        batch.drop_column("request_id")
