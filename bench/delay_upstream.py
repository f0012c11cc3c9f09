"""A bench upstream that takes its time: a fixed delay, and a heavy tail at random.

    python -m bench.delay_upstream --delay-ms 10 --tail-ms 1000 --tail-rate 0.03

Every `GET /<name>/<path>?...` answers `{"name": ..., "ok": true, "value": 1}` after
`--delay-ms`, or after `--tail-ms` for a random `--tail-rate` of the requests. `GET /_count`
answers how many requests it has had (itself not counted). Prints its URL like `bench.upstream`.
"""

import argparse
import asyncio
import contextlib
import random

import orjson
import uvloop

from app.simulator.http import Response
from bench.upstream import serve_until_stopped

_JSON = [("Content-Type", "application/json")]


class Delayed:
    def __init__(self, delay_s: float, tail_s: float, tail_rate: float, seed: int) -> None:
        self.delay_s = delay_s
        self.tail_s = tail_s
        self.tail_rate = tail_rate
        self.count = 0
        self._rng = random.Random(seed)  # the tail's draw only, nothing secret

    def handle(
        self, method: str, target: str, headers: dict[str, str], request_body: bytes
    ) -> object:
        if target == "/_count":
            return Response(200, _JSON, orjson.dumps({"count": self.count}))
        self.count += 1
        name = target.split("/", 2)[1] if target.count("/") >= 1 else ""
        body = orjson.dumps({"name": name, "ok": True, "value": 1})
        wait = self.tail_s if self._rng.random() < self.tail_rate else self.delay_s
        if wait <= 0:
            return Response(200, _JSON, body)
        return self._later(wait, body)

    @staticmethod
    async def _later(wait: float, body: bytes) -> Response:
        await asyncio.sleep(wait)
        return Response(200, _JSON, body)


async def serve(args: argparse.Namespace) -> None:
    handler = Delayed(args.delay_ms / 1000, args.tail_ms / 1000, args.tail_rate, args.seed)
    await serve_until_stopped(handler.handle, args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delay_upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--tail-ms", type=float, default=0.0)
    parser.add_argument("--tail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
