"""The call log: every provider call becomes exactly one `external_api_logs` row."""

from app.calllog.row import to_row
from app.calllog.status import CallLogBackpressureError, Durability, WriterHealth, WriterStats
from app.calllog.writer import CallLogWriter

__all__ = [
    "CallLogBackpressureError",
    "CallLogWriter",
    "Durability",
    "WriterHealth",
    "WriterStats",
    "to_row",
]
