"""`ExternalApiLogRollup`: one provider's calls in one 5-minute bucket, kept by the writer.

Long stats windows read these instead of every row: a 24-hour window is 288 buckets per
provider whatever the call rate. The writer updates a bucket in the same transaction as the rows
it inserts; `python -m app rebuild-rollups` recomputes buckets from the rows.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

ROLLUP_BUCKET_S = 300


class ExternalApiLogRollup(Base):
    __tablename__ = "external_api_log_rollups"
    __table_args__ = (
        # Time first: a window is one range of the key (all providers, or a few filtered from
        # it), and retention deletes a prefix. SQLite stores the table in key order.
        PrimaryKeyConstraint("bucket_start", "provider"),
        {"sqlite_with_rowid": False},
    )

    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str] = mapped_column(String(50))
    calls: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    validation_errors: Mapped[int] = mapped_column(Integer)
    # {error_kind: calls}: a new ErrorKind needs no migration.
    errors_by_kind: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Latency histogram (app/calllog/histogram.py), dense from its first non-empty bin.
    latency_first_bin: Mapped[int] = mapped_column(Integer)
    latency_counts: Mapped[list[int]] = mapped_column(JSON)
