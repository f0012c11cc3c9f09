"""Reading an upstream body safely: capped while streaming, JSON only, same-origin redirects.

Used by `HttpClient.fetch_json`, whose httpx path (`fetch_json_via_httpx`) lives here. A body
is never read past `limit` bytes: a declared `Content-Length` over the cap fails before any
byte is read, and a body without one (chunked, endless) is counted chunk by chunk and
abandoned at the cap; closing the response then drops the connection instead of draining it.
"""

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from app.core.errors import InvalidPayloadError, ResponseTooLargeError, UpstreamStatusError
from app.http.aiohttp_transport import CONTENT_TYPE_EXTENSION

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


async def fetch_json_via_httpx(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    content: bytes | None,
    timeouts: httpx.Timeout | None,
    limit: int,
    same_origin_redirects: bool,
) -> Any:
    """`HttpClient.fetch_json` through httpx's request and response objects: same checks."""
    sent_timeout = timeouts or httpx.USE_CLIENT_DEFAULT
    request = client.build_request(
        method, url, params=params, headers=headers, content=content, timeout=sent_timeout
    )
    hops = 0
    while True:
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            if 300 <= status < 400 and same_origin_redirects and response.is_redirect:
                target = same_origin_target(request, response)
                if target is not None and hops < MAX_REDIRECTS:
                    hops += 1
                    request = client.build_request(
                        "GET", target, headers=headers, timeout=sent_timeout
                    )
                    continue
            if not response.is_success:
                raise UpstreamStatusError(
                    response.status_code,
                    response.reason_phrase,
                    response.headers.get("retry-after"),
                )
            extensions = response.extensions
            if CONTENT_TYPE_EXTENSION in extensions:  # a small body our transport read
                check_json_content_type(extensions[CONTENT_TYPE_EXTENSION])
                body = capped(response.content, limit)
            else:
                content_type, declared = body_headers(response)
                check_json_content_type(content_type)
                body = await read_capped(response, limit, declared)
        finally:
            await response.aclose()
        return orjson.loads(body)
