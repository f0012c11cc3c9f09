"""How strict mode's back-pressure reaches a client: 503 with Retry-After, never a 500."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.calllog.status import CallLogBackpressureError

RETRY_AFTER_S = 1


async def _backpressure(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"call log busy, retry shortly: {exc}"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install_backpressure_handler(app: FastAPI) -> None:
    app.add_exception_handler(CallLogBackpressureError, _backpressure)
