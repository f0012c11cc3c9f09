"""Reading an upstream body safely: capped while streaming, JSON only, same-origin redirects.

Used by `BaseApiProvider.get_json`. A body is never read past `limit` bytes: a declared
`Content-Length` over the cap fails before any byte is read, and a body without one (chunked,
endless) is counted chunk by chunk and abandoned at the cap; closing the response then drops
the connection instead of draining it.
"""

from typing import Any

import httpx
import orjson

from app.integrations.errors import InvalidPayloadError, ResponseTooLargeError

MAX_REDIRECTS = 5


def body_headers(response: httpx.Response) -> tuple[str | None, str | None]:
    """Content-Type and Content-Length in one pass (each `headers.get` scans them all)."""
    content_type = content_length = None
    for name, value in response.headers.raw:
        if len(name) == 12 and name.lower() == b"content-type":
            content_type = value.decode("latin-1")
        elif len(name) == 14 and name.lower() == b"content-length":
            content_length = value.decode("latin-1")
    return content_type, content_length


def check_json_content_type(content_type: str | None) -> None:
    """A declared non-JSON type (an HTML error page, text) is refused before reading it."""
    if content_type is not None and "json" not in content_type.lower():
        raise not_json(content_type)


def not_json(content_type: str) -> InvalidPayloadError:
    shown = content_type.split(";", 1)[0].strip()[:60]
    return InvalidPayloadError(f"upstream sent content type {shown!r}, expected JSON")


def not_an_object(payload: object) -> InvalidPayloadError:
    return InvalidPayloadError(f"expected a JSON object, got {type(payload).__name__}")


def capped(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise ResponseTooLargeError(limit, len(body))
    return body


async def read_capped(response: httpx.Response, limit: int, declared: str | None) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLargeError(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any]:
    """Invalid JSON and invalid UTF-8 raise `orjson.JSONDecodeError` (mapped to invalid_json)."""
    payload = orjson.loads(body)
    if not isinstance(payload, dict):
        raise not_an_object(payload)
    return payload


def same_origin_target(request: httpx.Request, response: httpx.Response) -> httpx.URL | None:
    """Where a redirect points when that is the request's own scheme, host and port."""
    location = response.headers.get("location")
    if not location:
        return None
    try:
        target = request.url.join(location)
    except httpx.InvalidURL:
        return None
    origin = (request.url.scheme, request.url.host, request.url.port)
    return target if (target.scheme, target.host, target.port) == origin else None
