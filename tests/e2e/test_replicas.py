"""Two replicas and a `--workers 2` service on one PostgreSQL and one Redis, driven round-robin.

The upstream counts what reaches it: a provider's quota and an open breaker must hold for the
deployment, not per process, and every call must have exactly one row.
"""

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from sqlalchemy import create_engine, text

from tests.e2e.test_service import ROOT, free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.postgres

RATE, BURST = 5.0, 5
POLICIES = {
    "weather": {"rate_limit_per_s": RATE, "rate_limit_burst": BURST, "retries": 0},
    "news_headlines": {
        "retries": 0,
        "breaker_window": 4,
        "breaker_min_calls": 4,
        "breaker_open_ms": 600_000,
    },
}


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, Counter[str]]]:
    """Counts requests by provider; news_headlines always answers 503."""
    seen: Counter[str] = Counter()

    async def answer(request: web.Request) -> web.Response:
        provider = request.path.strip("/").split("/")[0]
        seen[provider] += 1
        if provider == "news_headlines":
            return web.Response(status=503)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.fixture
def services(
    tmp_path: Path,
    postgres_url: str,
    own_redis: RedisServer,
    upstream: tuple[str, Counter[str]],
) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": own_redis.url,
        "DEMO_UPSTREAM_URL": upstream[0],
        "PROVIDER_POLICIES": orjson.dumps(POLICIES).decode(),
        "RATE_LIMIT_PER_S": "0",
        "LOG_LEVEL": "WARNING",
        # This checkout's `app`, whichever checkout the environment has installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, check=True, cwd=tmp_path)
    processes = []
    ports = [free_port() for _ in range(3)]
    for i, (port, workers) in enumerate(zip(ports, (1, 1, 2), strict=True)):
        spool = {"LOG_SPOOL_DIR": str(tmp_path / f"spool{i}")}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    f"{workers}",
                ],
                env={**env, **spool},
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for base, process in zip(bases, processes, strict=True):
            while True:
                assert process.poll() is None, "a service exited at start"
                try:
                    ready = httpx.get(f"{base}/readyz").json()
                    if ready["checks"]["shared_state"]["detail"].startswith("shared"):
                        break
                except (httpx.TransportError, KeyError, ValueError):
                    pass
                assert time.monotonic() < deadline, "a service did not come up"
                time.sleep(0.1)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def test_quotas_breakers_and_rows_hold_across_replicas_and_workers(
    services: list[str], upstream: tuple[str, Counter[str]], postgres_url: str
) -> None:
    seen = upstream[1]
    turn = itertools.cycle(services)
    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:

        async def fetch(provider: str, timeout_ms: int = 2000) -> dict[str, Any]:
            url = f"{next(turn)}/integrations/fetch"
            params: dict[str, str | int] = {"providers": provider, "timeout_ms": timeout_ms}
            body: dict[str, Any] = (await client.get(url, params=params)).json()
            answers.append(body)
            return body

        # A quota of 5 calls a second: 8 clients as fast as they can for about 3 s (each call
        # may wait up to its 2 s deadline for a token, so every token is used).
        started = time.monotonic()

        async def hammer() -> None:
            while time.monotonic() - started < 3:
                await fetch("weather")

        await asyncio.gather(*(hammer() for _ in range(8)))
        elapsed = time.monotonic() - started
        allowed = BURST + RATE * elapsed
        assert seen["weather"] <= allowed + 1, (seen["weather"], allowed)
        kinds = Counter(
            (r["results"][0]["error_kind"], r["results"][0]["attempts"]) for r in answers
        )
        assert seen["weather"] >= 0.8 * allowed, (seen["weather"], allowed, kinds)

        # Every call fails: the first worker whose window of 4 fills opens it for all.
        for _ in range(40):
            await fetch("news_headlines")
        reached = seen["news_headlines"]
        assert 4 <= reached <= 4 + 4 * 3
        later = [await fetch("news_headlines") for _ in range(24)]
        assert seen["news_headlines"] == reached
        assert {r["results"][0]["error_kind"] for r in later} == {"circuit_open"}

    expected = {(str(a["request_id"]), a["results"][0]["provider"]) for a in answers}
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        deadline = time.monotonic() + 20
        while True:  # strict durability: rows are in the database or a spool being replayed
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT request_id, provider FROM external_api_logs")
                ).all()
            if len(rows) >= len(expected):
                break
            assert time.monotonic() < deadline, (len(rows), len(expected))
            await asyncio.sleep(0.1)
    finally:
        engine.dispose()
    assert len(rows) == len(expected)  # none twice
    assert {(str(r[0]), r[1]) for r in rows} == expected  # every call has its row
