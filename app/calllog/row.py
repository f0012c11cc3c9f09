"""One call-log row: the `external_api_logs` columns of one provider call, built from its result.

Every row carries `log_id`, generated here once per call. The same id travels to the database,
the journal and the spool, and every insert ignores a conflict on it (`insert.py`), so writing a
row twice (a commit that finished after we gave up on it, a spool replayed after a crash) still
leaves one row.
"""

from typing import Any, cast

from sqlalchemy import Table

from app.core.ids import new_log_id
from app.integrations.schemas import ExternalResponse
from app.models import ExternalApiLog

Row = dict[str, Any]

TABLE = cast(Table, ExternalApiLog.__table__)


def to_row(request_id: str, result: ExternalResponse) -> Row:
    """The row of one call of the fan-out `request_id`, with a fresh `log_id`."""
    return {
        "log_id": new_log_id(),
        "provider": result.provider,
        "success": result.success,
        "is_validation_error": result.is_validation_error,
        "response_time_ms": result.response_time_ms,
        "data": result.data,
        "error_message": result.error_message,
        "created_at": result.started_at,
        "request_id": request_id,
        "status_code": result.status_code,
        "error_kind": result.error_kind.value if result.error_kind else None,
        "attempts": result.attempts,
        "breaker_state": result.breaker_state,
        "stale": result.stale,
        "cache": result.cache,
        "coalesced": result.coalesced,
        "won_attempt": result.won_attempt,
        "trace_id": result.trace_id,
    }
