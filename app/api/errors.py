"""Error answers every route shares: 422s that never echo input, 503 when the database is out.

A client's value can be a credential pasted into the wrong field, so a 422 says where and
what is wrong (`loc`, `msg`), never what was sent. The read endpoints (logs, stats, one
fan-out) need the database; while it is out they answer 503 with `Retry-After`, and the
fan-out keeps working because its rows wait in the call log's spool.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.core.db import UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

# Long enough for a restarting database or a failover, short enough to notice recovery.
DATABASE_RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = (
    "database unavailable: stored calls cannot be read right now; retry after the "
    "Retry-After seconds (fetching keeps working: its rows are written once the database "
    "is back)"
)
# For the `responses=` of every route that reads the database.
DATABASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database is unavailable; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The class only: a driver's message can carry the URL's host, user or password.
    logger.warning(
        "database unavailable for %s %s: %s",
        request.method,
        request.url.path,
        type(getattr(exc, "orig", None) or exc).__name__,
    )
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
