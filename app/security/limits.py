"""Request limits with clear answers: body size (413), providers and params (422).

Every 422 names the limit and the setting that sets it, never the offending value (it may be
long, or a secret pasted by mistake).
"""

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings


def _too_large_detail(max_bytes: int) -> str:
    return f"request body larger than {max_bytes} bytes (MAX_BODY_BYTES)"


class BodyTooLargeError(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through as a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_too_large_detail(max_bytes))


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: at once by Content-Length, or while a chunked body
    streams in, so an oversized body is never read whole into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps({"detail": _too_large_detail(self.max_bytes)})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def check_providers(names: Sequence[str], settings: Settings, loc: tuple[str, ...]) -> None:
    limit = settings.max_providers_per_request
    if len(names) > limit:
        _refuse(
            "too_many_providers",
            loc,
            f"at most {limit} providers per request (MAX_PROVIDERS_PER_REQUEST), got {len(names)}",
        )


def check_params(
    items: Sequence[tuple[str, Any]], settings: Settings, loc: tuple[str, ...]
) -> None:
    """`items` as sent: a repeated query key counts each time."""
    if len(items) > settings.max_params:
        _refuse(
            "too_many_params",
            loc,
            f"at most {settings.max_params} params per request (MAX_PARAMS), got {len(items)}",
        )
    limit = settings.max_param_length
    for name, value in items:
        if len(name) > limit:
            _refuse(
                "param_too_long",
                loc,
                f"param names may have at most {limit} characters (MAX_PARAM_LENGTH); "
                f"one has {len(name)}",
            )
        if isinstance(value, str) and len(value) > limit:
            _refuse(
                "param_too_long",
                (*loc, name),
                f"param values may have at most {limit} characters (MAX_PARAM_LENGTH), "
                f"got {len(value)}",
            )


def _refuse(kind: str, loc: tuple[str, ...], msg: str) -> None:
    raise RequestValidationError([{"type": kind, "loc": loc, "msg": msg}])
