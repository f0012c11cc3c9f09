"""Keep each call's response-cache outcome, whether it was coalesced, and the winning attempt.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.add_column(sa.Column("cache", sa.String(length=8), nullable=True))
        batch.add_column(
            sa.Column("coalesced", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("won_attempt", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("external_api_logs") as batch:
        batch.drop_column("won_attempt")
        batch.drop_column("coalesced")
        batch.drop_column("cache")
