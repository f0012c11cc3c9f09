"""The bare ceiling: a raw ASGI app (no framework, no validation, no DB).

Any GET fans out with one shared `aiohttp.ClientSession` to the same upstream URLs the
service's providers call (`BENCH_PROVIDERS=default|many`, `DEMO_UPSTREAM_URL`), and answers
the JSON list of `{provider, status, data}`. Served by uvicorn with the service's flags:

    DEMO_UPSTREAM_URL=http://127.0.0.1:8001 uvicorn bench.ceiling:app \
        --loop uvloop --http httptools --workers 1 --no-access-log
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from app.core.config import Settings
from bench.providers import upstream_urls

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_URLS = upstream_urls(
    os.environ.get("BENCH_PROVIDERS", "default"),
    Settings(demo_upstream_url=os.environ["DEMO_UPSTREAM_URL"]),
)
_NAMES = [url.split("/")[3] for url in _URLS]
_HEADERS = [(b"content-type", b"application/json")]
_session: aiohttp.ClientSession | None = None


async def _call(session: aiohttp.ClientSession, name: str, url: str) -> dict[str, Any]:
    try:
        async with session.get(url) as response:
            return {"provider": name, "status": response.status, "data": await response.json()}
    except Exception as exc:
        return {"provider": name, "status": None, "error": type(exc).__name__}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if _session is None:
        # The same pool size as the service's client, so neither queues where the other not.
        limit = Settings(_env_file=None).http_max_connections
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))
    session = _session
    results = await asyncio.gather(
        *(_call(session, n, u) for n, u in zip(_NAMES, _URLS, strict=True))
    )
    body = orjson.dumps({"results": results})
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": body})
