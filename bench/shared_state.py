"""CPU per upstream call with shared state (Redis) vs local state, in one run.

    .venv/bin/python -m bench.shared_state [--concurrency 16] [--steps 5] [--rounds 21]

16 concurrent fan-outs of 20 demo-shaped providers, every provider with a token bucket (that
never runs dry: the cost, not the throttling) and a circuit breaker, against `bench.upstream`
in another process. `local` runs today's in-process policies; `shared` the same providers
after `share_state(RedisState)` on a redis-server of the bench's own. Reported per upstream
call: this process's CPU (`time.process_time`), the same plus the redis-server's CPU (from
/proc), and wall time. Rounds interleave the variants; medians of per-round ratios.
"""

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

import uvloop

from app.core.config import Settings
from app.http import create_http_client
from app.integrations.manager import ApiIntegrationManager
from app.state.shared import RedisState
from bench._proc import cpu_seconds, start_upstream, stop
from bench.policies_cpu import _Bench, _providers
from bench.redis_proc import start_redis

FANOUT = 20
POLICY: dict[str, Any] = {"rate_limit_per_s": 1_000_000.0, "rate_limit_burst": 1_000_000}


async def measure(
    base_url: str,
    redis_url: str,
    redis_pid: int,
    concurrency: int,
    steps: int,
    rounds: int,
    timeout_s: float,
) -> dict[str, dict[str, list[float]]]:
    settings = Settings(_env_file=None, demo_upstream_url=base_url)
    client = create_http_client(settings)
    state = RedisState(redis_url, prefix="bench", timeout_s=timeout_s, reconnect_s=0.5)
    await state.start()
    managers: dict[str, ApiIntegrationManager] = {}
    for tag in ("local", "shared"):
        providers = _providers(_Bench, POLICY, tag)
        for p in providers:
            p._url = f"{base_url}/{p.name}/{p.path}"
            if tag == "shared":
                p.share_state(state)
        managers[tag] = ApiIntegrationManager(providers, None, default_timeout_ms=5000)

    async def step(manager: ApiIntegrationManager) -> None:
        results = await asyncio.gather(*(manager.fetch_all(client, {}) for _ in range(concurrency)))
        for result in results:
            assert result.summary.succeeded == FANOUT, result.results[0].error_message

    for manager in managers.values():  # warm up: connections open, scripts loaded
        for _ in range(5):
            await step(manager)
    calls = steps * concurrency * FANOUT
    samples: dict[str, dict[str, list[float]]] = {
        tag: {"cpu": [], "cpu_redis": [], "wall": []} for tag in managers
    }
    order = list(managers.items())
    gc.disable()
    for _ in range(rounds):
        order.reverse()
        for tag, manager in order:
            gc.collect()
            cpu0, redis0, wall0 = time.process_time(), cpu_seconds(redis_pid), time.perf_counter()
            for _ in range(steps):
                await step(manager)
            cpu = time.process_time() - cpu0
            redis = cpu_seconds(redis_pid) - redis0
            samples[tag]["cpu"].append(cpu / calls * 1e6)
            samples[tag]["cpu_redis"].append((cpu + redis) / calls * 1e6)
            samples[tag]["wall"].append((time.perf_counter() - wall0) / calls * 1e6)
    gc.enable()
    # Each fallback is a stretch of the run on local state: say how many, they flatter `shared`.
    samples["shared"]["fallbacks"] = [float(state.fallbacks)]
    await state.close()
    await client.aclose()
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shared_state")
    parser.add_argument("--concurrency", type=int, default=16, help="fan-outs in flight")
    parser.add_argument("--steps", type=int, default=20, help="batches of fan-outs per round")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--timeout-ms", type=int, default=50, help="REDIS_TIMEOUT_MS")
    args = parser.parse_args(argv)
    upstream, base_url = start_upstream()
    redis, redis_url = start_redis()
    try:
        samples = uvloop.run(
            measure(
                base_url,
                redis_url,
                redis.pid,
                args.concurrency,
                args.steps,
                args.rounds,
                args.timeout_ms / 1000,
            )
        )
    finally:
        stop(upstream)
        redis.kill()
        redis.wait()
    print(
        f"\n{args.rounds} rounds x {args.steps} x {args.concurrency} concurrent fan-outs of "
        f"{FANOUT}, token bucket and breaker on for every provider, "
        f"REDIS_TIMEOUT_MS={args.timeout_ms}\n"
    )
    print("| per upstream call | local (median) | shared (median) | shared / local |")
    print("|---|---:|---:|---:|")
    for metric, label in (
        ("cpu", "CPU of the service process, us"),
        ("cpu_redis", "CPU of service + redis-server, us"),
        ("wall", "wall time, us"),
    ):
        local, shared = samples["local"][metric], samples["shared"][metric]
        ratio = statistics.median(s / lo for s, lo in zip(shared, local, strict=True))
        print(
            f"| {label} | {statistics.median(local):.1f} | {statistics.median(shared):.1f} "
            f"| {ratio:.3f}x |"
        )
    fallbacks = int(samples["shared"]["fallbacks"][0])
    print(f"\ntarget: shared <= 1.15x local; fallbacks to local state during the run: {fallbacks}")


if __name__ == "__main__":
    main()
