"""CPU per 20-call concurrent fan-out, per HTTP client stack, all in one run.

    .venv/bin/python -m bench.transport_cpu [--fanouts 200] [--rounds 5]

The upstream (`bench.upstream`) runs in its own process; this process runs the clients on
uvloop and measures its own CPU (`time.process_time`) per fan-out of 20 concurrent GETs with
a query string, each body read and parsed with orjson (what a provider does). Variants are
interleaved round by round and the median round is reported, to ride out a noisy machine.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson
import uvloop
from httpx_aiohttp import AiohttpTransport as HttpxAiohttpTransport

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.http.aiohttp_transport import AiohttpTransport
from app.http.tracking import CALL_TRACKING_HOOKS
from bench._proc import start_upstream, stop

FANOUT = 20
PARAMS = {"city": "Seoul", "units": "metric"}

FanOut = Callable[[], Awaitable[None]]


def _urls(base: str) -> list[str]:
    return [f"{base}/bench_{i:02d}/current" for i in range(FANOUT)]


async def _raw_aiohttp(base: str) -> tuple[FanOut, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    urls = [f"{u}?city=Seoul&units=metric" for u in _urls(base)]

    async def one(url: str) -> None:
        async with session.get(url) as response:
            orjson.loads(await response.read())

    async def fan_out() -> None:
        await asyncio.gather(*(one(u) for u in urls))

    return fan_out, session.close


def _httpx_fan_out(client: httpx.AsyncClient, base: str) -> FanOut:
    urls = _urls(base)

    async def one(url: str) -> None:
        response = await client.get(url, params=PARAMS)
        orjson.loads(response.content)
        assert response.status_code == 200

    async def fan_out() -> None:
        await asyncio.gather(*(one(u) for u in urls))

    return fan_out


def _httpx(transport: httpx.AsyncBaseTransport | None) -> Callable[[str], Any]:
    async def make(base: str) -> tuple[FanOut, Callable[[], Awaitable[None]]]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        client = httpx.AsyncClient(
            transport=transport, limits=limits, event_hooks=CALL_TRACKING_HOOKS
        )
        return _httpx_fan_out(client, base), client.aclose

    return make


async def _ours(base: str) -> tuple[FanOut, Callable[[], Awaitable[None]]]:
    client = create_http_client(Settings(demo_upstream_url=base))
    return _httpx_fan_out(client, base), client.aclose


async def _direct(base: str) -> tuple[FanOut, Callable[[], Awaitable[None]]]:
    client = create_http_client(Settings(demo_upstream_url=base))
    assert isinstance(client, HttpClient)
    assert client.has_direct_path
    urls = _urls(base)

    async def one(url: str) -> None:
        await client.fetch_json(url, params=PARAMS, limit=1 << 20)

    async def fan_out() -> None:
        await asyncio.gather(*(one(u) for u in urls))

    return fan_out, client.aclose


VARIANTS: dict[str, Callable[[str], Awaitable[tuple[FanOut, Callable[[], Awaitable[None]]]]]] = {
    "raw aiohttp (reference)": _raw_aiohttp,
    "httpx default transport": lambda base: _httpx(None)(base),
    "httpx + httpx-aiohttp 0.2.0": lambda base: _httpx(
        HttpxAiohttpTransport(limits=httpx.Limits(max_connections=200))
    )(base),
    "httpx + our AiohttpTransport, always streamed": lambda base: _httpx(
        AiohttpTransport(max_connections=200, eager_body_max_bytes=-1)
    )(base),
    "httpx + our AiohttpTransport": lambda base: _httpx(AiohttpTransport(max_connections=200))(
        base
    ),
    "chosen: create_http_client (ours + no cookie jar + URL cache)": _ours,
    "its direct path (`fetch_json`, what `get_json` uses)": _direct,
}


async def measure(base: str, fanouts: int, rounds: int) -> dict[str, list[float]]:
    clients = {}
    for name, make in VARIANTS.items():
        fan_out, close = await make(base)
        for _ in range(10):  # warm up: connections open, caches filled
            await fan_out()
        clients[name] = (fan_out, close)
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, (fan_out, _close) in clients.items():
            start = time.process_time()
            for _ in range(fanouts):
                await fan_out()
            results[name].append((time.process_time() - start) / fanouts * 1000)
    for _fan_out, close in clients.values():
        await close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transport_cpu")
    parser.add_argument("--fanouts", type=int, default=60, help="fan-outs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--upstream-cpus", default=None, help="taskset CPU list for upstream")
    args = parser.parse_args(argv)
    upstream, base = start_upstream(args.upstream_cpus)
    try:
        results = uvloop.run(measure(base, args.fanouts, args.rounds))
    finally:
        stop(upstream)
    reference = statistics.median(results["raw aiohttp (reference)"])
    print(f"\nCPU per {FANOUT}-call fan-out ({args.rounds} rounds x {args.fanouts} fan-outs)\n")
    print("| client stack | CPU ms / fan-out (median) | min..max | vs raw aiohttp |")
    print("|---|---:|---:|---:|")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"| {name} | {median:.2f} | {min(samples):.2f}..{max(samples):.2f} "
            f"| {median / reference:.2f}x |"
        )


if __name__ == "__main__":
    main()
