"""`GET /integrations/logs`: stored provider calls, filtered, newest first, keyset-paged."""

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from app.api.deps import ManagerDep, SessionDep
from app.api.errors import DATABASE_RESPONSES
from app.api.names import resolve_names, split_names
from app.core.errors import ErrorKind
from app.queries.logs import (
    CURSOR_PATTERN,
    MAX_PAGE,
    LogFilter,
    log_page,
)
from app.queries.schemas import LogPage

router = APIRouter(prefix="/integrations", tags=["observability"])


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    # pydantic would also take a number as Unix seconds; the schema promises ISO 8601 only.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date-time, like 2026-11-22T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
PROVIDER_AT = ("query", "provider")


@router.get("/logs", response_model=LogPage, responses=DATABASE_RESPONSES)
def list_logs(
    session: SessionDep,
    manager: ManagerDep,
    provider: Annotated[
        list[str] | None, Query(description="Provider names: repeat or separate with commas.")
    ] = None,
    success: Annotated[bool | None, Query(description="Only successes or failures.")] = None,
    error_kind: Annotated[list[ErrorKind] | None, Query(description="Any of these.")] = None,
    validation_errors_only: Annotated[
        bool, Query(description="Only answers that did not match the provider's model.")
    ] = False,
    since: Annotated[
        IsoDateTime | None, Query(description="Inclusive; without an offset it is UTC.")
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Exclusive; UTC unless given.")] = None,
    request_id: Annotated[str | None, Query(max_length=64, description="One fan-out.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
) -> LogPage:
    """List stored provider calls, newest first, with filters and keyset pagination."""
    filters = LogFilter(
        provider=resolve_names(manager, split_names(provider, PROVIDER_AT), PROVIDER_AT),
        success=success,
        error_kind=[k.value for k in error_kind] if error_kind else None,
        validation_errors_only=validation_errors_only,
        since=since,
        until=until,
        request_id=request_id,
    )
    # The pattern above already refused anything that is not a position.
    items, next_cursor = log_page(session, filters, limit=limit, cursor=cursor)
    return LogPage(items=items, next_cursor=next_cursor)
