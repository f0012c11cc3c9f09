"""Request ids: taken from `X-Request-ID` or generated, returned, and known to the whole call.

A pure ASGI middleware (no `BaseHTTPMiddleware`: it would run the route in another task and
lose the context variable). It also writes the one JSON log line per HTTP request.
"""

import logging
import re
import time
from contextvars import ContextVar
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.ids import new_request_id

HEADER = "X-Request-ID"
HEADER_DESCRIPTION = (
    "Your id for this request (1-64 of `A-Za-z0-9._:-`); generated when absent or invalid. "
    "Returned in the `X-Request-ID` header, sent to every upstream and stored on every "
    "call-log row."
)
_HEADER_KEY = b"x-request-id"
# Stored in a String(64) column and echoed into log lines: anything else is replaced.
_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
access_logger = logging.getLogger("app.access")


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is safe to store and log, a fresh one otherwise."""
    if value and _VALID.fullmatch(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope["headers"]:
            if key == _HEADER_KEY:
                incoming = value.decode("latin-1")
                break
        request_id = accept_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER_KEY]
                headers.append((_HEADER_KEY, encoded))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        # The path only: query strings may carry anything a client sends.
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                    },
                )


async def get_request_id(
    request: Request,
    x_request_id: Annotated[
        str | None, Header(alias=HEADER, description=HEADER_DESCRIPTION)
    ] = None,
) -> str:
    """The id the middleware settled on (it also validated `x_request_id`).

    `async def`: FastAPI would run a plain `def` in its thread pool, a hand-off per request.
    """
    return request_id_of(request)


def request_id_of(request: Request) -> str:
    """`get_request_id` for a route that reads its request itself (the fan-out GET)."""
    request_id: str | None = getattr(request.state, "request_id", None)
    return request_id or accept_request_id(request.headers.get(HEADER))


RequestIdDep = Annotated[str, Depends(get_request_id)]
