"""The bench upstream: a raw-asyncio HTTP/1.1 server (uvloop), no web framework.

`GET /<name>/<path>?<query>` answers at once (delay 0; `--delay-ms` waits first, as a real API
would, without using CPU) with a fixed small JSON body: for the
names of the bundled simulator's catalog, the payload it would send (so the service's
response models validate); for any other name, `{"name": ..., "ok": true, "value": 1}`.
Bodies are built on the first request for a target and then served from a cache, so the
upstream spends next to nothing per request. Keep-alive, Content-Length responses.

    python -m bench.upstream --port 0   # prints "listening on http://127.0.0.1:<port>"
"""

import argparse
import asyncio
import contextlib
import random
import signal
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvloop

from app.simulator.catalog import CATALOG
from app.simulator.http import HttpServer, Response

_JSON = [("Content-Type", "application/json")]
_CACHE_LIMIT = 10_000


class FixedAnswers:
    def __init__(self) -> None:
        self._cache: dict[str, Response] = {}

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        response = self._cache.get(target)
        if response is None:
            response = self._build(target)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[target] = response
        return response

    @staticmethod
    def _build(target: str) -> Response:
        path, _, query_string = target.partition("?")
        parts = path.split("/", 2)
        name = parts[1] if len(parts) > 1 else ""
        endpoint = CATALOG.get(name)
        if endpoint is not None:
            query = dict(parse_qsl(query_string, keep_blank_values=True))
            payload = endpoint.factory(random.Random(name), query)
        else:
            payload = {"name": name, "ok": True, "value": 1}
        return Response(200, _JSON, orjson.dumps(payload))


async def serve(host: str, port: int, delay_ms: float = 0.0) -> None:
    answers = FixedAnswers()
    handler: Any = answers.handle
    if delay_ms > 0:

        async def handler(
            method: str, target: str, headers: dict[str, str], body: bytes = b""
        ) -> Response:
            await asyncio.sleep(delay_ms / 1000)
            return answers.handle(method, target, headers, body)

    await serve_until_stopped(handler, host, port)


async def serve_until_stopped(handler: Any, host: str, port: int) -> None:
    """Serve `handler` (the simulator server's), say where, and stop on SIGTERM or SIGINT."""
    server = HttpServer(handler, host, port)
    await server.start()
    print(f"listening on http://{host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before answering")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, args.delay_ms))


if __name__ == "__main__":
    main()
