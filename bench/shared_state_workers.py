"""Quota accuracy and breaker propagation with 4 workers on one Redis, measured at the upstream.

    .venv/bin/python -m bench.shared_state_workers [--workers 4] [--seconds 10]

The upstream (in this process) records when each request arrived and from which worker. Each
worker is a process of its own with its own `RedisState`, as uvicorn's workers are.

* quota: every worker hammers one provider limited to 20 calls/s (burst 10) with 8 concurrent
  calls for `--seconds`; the upstream counts what arrived in that window, against
  20 x seconds + 10. `--variant local` runs the same without Redis, for contrast.
* breaker: every worker calls a provider (breaker window 10, open 2 s, 2 probes) with 4
  concurrent calls; the upstream answers 200, then 503 from 2 s on, then 200 again from 9 s
  on. Reported: how long after the first worker saw the breaker open the last call of any
  worker reached the upstream, how many calls reached it in each half-open period, and whether
  every worker called again once it recovered.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import uvloop
from aiohttp import web

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.integrations.base import Params
from app.integrations.providers._demo import DemoProvider
from app.resilience.deadline import Deadline
from app.state.shared import RedisState
from bench._proc import ROOT
from bench.redis_proc import start_redis

QUOTA = {"rate_limit_per_s": 20.0, "rate_limit_burst": 10, "breaker_enabled": False}
BREAKER = {"breaker_window": 10, "breaker_min_calls": 10, "breaker_open_ms": 2000}
FAIL_AT, RECOVER_AT = 2.0, 9.0


class _Probe(DemoProvider):
    path = "data"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        headers = {"X-Worker": str(os.getpid())}
        return await self.get_json(client, self._url, headers=headers)


def _provider(name: str, policy: dict[str, Any], upstream: str) -> _Probe:
    settings = Settings(_env_file=None, demo_upstream_url=upstream)
    cls = type(name, (_Probe,), {"name": name, "policy_overrides": {"retries": 0, **policy}})
    provider: _Probe = cls(settings)
    return provider


async def worker(
    mode: str, upstream: str, redis_url: str | None, start: float, secs: float, timeout_s: float
) -> None:
    settings = Settings(_env_file=None, demo_upstream_url=upstream)
    client = create_http_client(settings)
    name, policy, loops = ("limited", QUOTA, 8) if mode == "quota" else ("flaky", BREAKER, 4)
    provider = _provider(name, policy, upstream)
    state = None
    if redis_url:
        state = RedisState(redis_url, prefix="bench", timeout_s=timeout_s, reconnect_s=0.5)
        await state.start()
        provider.share_state(state)
    seen_open: float | None = None
    outcomes: Counter[str] = Counter()
    await asyncio.sleep(max(0.0, start - time.time()))

    async def loop() -> None:
        nonlocal seen_open
        while time.time() < start + secs:
            result = await provider.execute(
                client, {}, request_id="b", deadline=Deadline.after(1000)
            )
            outcomes[f"{result.error_kind or 'ok'}/{result.attempts}"] += 1
            if seen_open is None and result.breaker_state == "open":
                seen_open = time.time()
            if result.error_kind is not None and result.attempts == 0:
                # Refused: back off as a client would, until `retry_at` when it says one.
                wait = 0.005
                if result.retry_at is not None:
                    wait = max(wait, (result.retry_at - datetime.now(UTC)).total_seconds())
                await asyncio.sleep(min(wait, 1.0))

    await asyncio.gather(*(loop() for _ in range(loops)))
    report = {"pid": os.getpid(), "seen_open": seen_open, "outcomes": outcomes}
    print(json.dumps(report), flush=True)
    if state is not None:
        await state.close()
    await client.aclose()


async def run(args: argparse.Namespace, mode: str, redis_url: str | None) -> dict[str, Any]:
    arrivals: list[tuple[float, str, str]] = []
    start = time.time() + 6  # every worker up and connected before
    secs = args.seconds if mode == "quota" else RECOVER_AT + 4

    async def answer(request: web.Request) -> web.Response:
        now = time.time()
        provider = request.path.strip("/").split("/")[0]
        arrivals.append((now, provider, request.headers.get("X-Worker", "")))
        if provider == "flaky" and FAIL_AT <= now - start < RECOVER_AT:
            return web.Response(status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    cmd = [sys.executable, "-m", "bench.shared_state_workers", "--worker", mode]
    cmd += ["--upstream", upstream, "--start", str(start), "--seconds", str(secs)]
    cmd += ["--redis", redis_url or "", "--timeout-ms", str(args.timeout_ms)]
    procs = [
        await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=subprocess.PIPE)
        for _ in range(args.workers)
    ]
    outputs = [
        json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in procs
    ]
    await runner.cleanup()
    if mode == "quota":
        inside = [a for a in arrivals if start <= a[0] < start + args.seconds]
        bound = QUOTA["rate_limit_per_s"] * args.seconds + QUOTA["rate_limit_burst"]
        per_worker = Counter(a[2] for a in inside)
        outcomes = sum((Counter(o["outcomes"]) for o in outputs), Counter())
        return {
            "arrived": len(inside),
            "bound": bound,
            "per_worker": sorted(per_worker.values()),
            "outcomes": dict(outcomes),
        }
    opened = min(o["seen_open"] for o in outputs if o["seen_open"] is not None)
    failing = [a for a in arrivals if start + FAIL_AT <= a[0] < start + RECOVER_AT]
    after_open = [a for a in failing if a[0] > opened]
    # Calls after the breaker opened come in bursts, one per half-open period.
    bursts: list[list[float]] = []
    for t, _, _ in after_open:
        if bursts and t - bursts[-1][-1] < 0.5:
            bursts[-1].append(t)
        else:
            bursts.append([t])
    open_s = BREAKER["breaker_open_ms"] / 1000
    before_half_open = [a for a in after_open if a[0] < opened + open_s - 0.1]
    return {
        "seen_open_spread_s": round(max(o["seen_open"] or opened for o in outputs) - opened, 4),
        "calls_after_open_before_half_open": len(before_half_open),
        "last_of_them_after_s": round(
            max((a[0] for a in before_half_open), default=opened) - opened, 4
        ),
        "calls_per_half_open": [len(b) for b in bursts if b[0] > opened + open_s - 0.1],
        "workers_calling_after_recovery": len(
            {a[2] for a in arrivals if a[0] > start + RECOVER_AT + 2.5}
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shared_state_workers")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--variant", choices=["shared", "local"], default="shared")
    parser.add_argument("--timeout-ms", type=int, default=50, help="REDIS_TIMEOUT_MS")
    parser.add_argument("--worker", choices=["quota", "breaker"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        timeout_s = args.timeout_ms / 1000
        uvloop.run(
            worker(
                args.worker, args.upstream, args.redis or None, args.start, args.seconds, timeout_s
            )
        )
        return
    redis, redis_url = start_redis()
    try:
        url = redis_url if args.variant == "shared" else None
        quota = uvloop.run(run(args, "quota", url))
        breaker = uvloop.run(run(args, "breaker", url)) if url else None
    finally:
        redis.kill()
        redis.wait()
    share = quota["arrived"] / quota["bound"]
    print(f"\n{args.workers} workers, {args.variant} state, REDIS_TIMEOUT_MS={args.timeout_ms}")
    print(
        f"quota 20/s burst 10 for {args.seconds:g} s: {quota['arrived']} calls reached the "
        f"upstream, bound {quota['bound']:g} ({share:.1%}); per worker {quota['per_worker']}; "
        f"calls by outcome/attempts: {quota['outcomes']}"
    )
    if breaker is not None:
        print(f"breaker: {json.dumps(breaker)}")


if __name__ == "__main__":
    main()
