"""Keep each call's circuit-breaker state and whether a stale fallback was shown.

The attempt count and final error kind are already columns (0002); `error_kind` is wide
enough for the new kinds (circuit_open, rate_limited, bulkhead_full, response_too_large).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.add_column(sa.Column("breaker_state", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("stale", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.drop_column("stale")
        batch.drop_column("breaker_state")
