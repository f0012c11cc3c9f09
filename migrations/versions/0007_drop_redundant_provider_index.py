"""Drop the seed's single-column `provider` index: `(provider, created_at, id, ...)` covers it.

Every read by provider (its log pages, its stats, its latest error) leads with `provider` and
uses the composite index from 0003 or the failures index; nothing reads by `provider` alone
through the old one. It only cost the writer an extra b-tree insert per row: 1.5 of SQLite's
9.2 us per row (`bench/README.md`, "Call log").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_external_api_logs_provider"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="external_api_logs")


def downgrade() -> None:
    op.create_index(INDEX, "external_api_logs", ["provider"], unique=False)
