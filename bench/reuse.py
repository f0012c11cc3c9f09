"""The response cache, coalescing and hedging against issue 16's three targets, in one run.

    .venv/bin/python -m bench.reuse [--part hedge|cache|coalesce] [--upstream-cpus 1]

Each part runs managers of 20 demo-shaped providers (`DemoProvider`, no response model) in this
process, on uvloop, against `bench.delay_upstream` in its own process, and counts the calls the
upstream received (its `/_count`):

* hedge: every call 10 ms, 3 % at random 1 s. 400 fan-outs, `--width` (4) at a time, each
  with its own parameters (nothing to coalesce), unhedged then hedged (`hedge_after_ms` 25,
  `hedge_max` 2); fan-out latency p50/p99 and upstream calls per fan-out.
* cache: upstream at 0 ms. 1,000 fan-outs over 50 parameter sets with `cache_ttl_s` 60, one
  at a time; then CPU (`time.process_time`) per provider call, cache hits vs the same fan-outs
  with no cache (each a call to the 0 ms upstream; and with coalescing off too, what
  coalescing costs a call), interleaved rounds, median ratio.
* coalesce: every call 200 ms. 100 concurrent identical fan-outs, coalescing on (the
  default), then off for reference.
"""

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

import uvloop

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.integrations.manager import ApiIntegrationManager
from app.integrations.providers._demo import DemoProvider
from bench._proc import ROOT, stop, taskset

FANOUT = 20


class _Reading(DemoProvider):
    path = "data"
    query = {"city": "Seoul"}


def _start(cpus: str | None, *flags: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "bench.delay_upstream", "--port", "0", *flags]
    proc = subprocess.Popen(
        taskset(cmd, cpus), cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"upstream did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def _count(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_count") as response:  # noqa: S310 - our own upstream
        return int(json.load(response)["count"])


def _manager(url: str, tag: str, policy: dict[str, Any]) -> ApiIntegrationManager:
    settings = Settings(_env_file=None, demo_upstream_url=url)
    providers = []
    for i in range(FANOUT):
        name = f"{tag}_{i:02d}"
        cls = type(name, (_Reading,), {"name": name, "policy_overrides": policy})
        providers.append(cls(settings))
    return ApiIntegrationManager(providers, None, default_timeout_ms=5000)


async def _fan_outs(
    manager: ApiIntegrationManager, client: HttpClient, params: list[dict[str, str]], width: int
) -> list[float]:
    """Run one fan-out per params, `width` at a time; their latencies in ms."""
    latencies: list[float] = []
    queue = list(reversed(params))

    async def worker() -> None:
        while queue:
            started = time.perf_counter()
            result = await manager.fetch_all(client, queue.pop())
            latencies.append((time.perf_counter() - started) * 1000)
            assert result.summary.succeeded == FANOUT, result.results[0].error_message

    await asyncio.gather(*(worker() for _ in range(width)))
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def hedge(cpus: str | None, fanouts: int, width: int) -> None:
    proc, url = _start(cpus, "--delay-ms", "10", "--tail-ms", "1000", "--tail-rate", "0.03")
    try:
        async with create_http_client(Settings(_env_file=None)) as client:
            variants = {
                "unhedged": {},
                "hedged": {"hedge_after_ms": 25, "hedge_max": 2},
            }
            load = os.getloadavg()[0]
            print(
                f"hedge: 20 providers, 10 ms, 3 % at 1 s; {width} fan-outs at a time; "
                f"load average {load:.1f}"
            )
            print("| variant | fan-outs | p50 ms | p99 ms | max ms | upstream calls / fan-out |")
            print("|---|---:|---:|---:|---:|---:|")
            per_fanout: dict[str, float] = {}
            for tag, policy in variants.items():
                manager = _manager(url, tag, policy)
                await _fan_outs(manager, client, [{"city": f"w{i}"} for i in range(8)], width)
                before = _count(url)
                params = [{"city": f"{tag}{i}"} for i in range(fanouts)]
                latencies = await _fan_outs(manager, client, params, width)
                calls = (_count(url) - before) / fanouts
                per_fanout[tag] = calls
                print(
                    f"| {tag} | {fanouts} | {_p(latencies, 50):.1f} | {_p(latencies, 99):.1f} "
                    f"| {max(latencies):.1f} | {calls:.2f} |"
                )
            extra = per_fanout["hedged"] / per_fanout["unhedged"] - 1
            print(f"hedged: {extra:+.1%} upstream calls")
    finally:
        stop(proc)


async def cache(cpus: str | None, rounds: int) -> None:
    proc, url = _start(cpus)
    try:
        async with create_http_client(Settings(_env_file=None)) as client:
            cached = _manager(url, "cached", {"cache_ttl_s": 60})
            plain = _manager(url, "plain", {})
            alone = _manager(url, "alone", {"coalesce": False})
            sets = [{"city": f"c{i}"} for i in range(50)]
            before = _count(url)
            await _fan_outs(cached, client, [sets[i % 50] for i in range(1000)], 1)
            calls = _count(url) - before
            print(f"cache: 1000 fan-outs over 50 parameter sets: {calls} upstream calls")
            await _fan_outs(plain, client, sets, 1)  # warm: connections open
            await _fan_outs(alone, client, sets, 1)
            samples: dict[str, list[float]] = {"hit": [], "call": [], "uncoalesced": []}
            order = [("hit", cached), ("call", plain), ("uncoalesced", alone)]
            gc.disable()
            for _ in range(rounds):
                order.reverse()
                for name, manager in order:
                    gc.collect()
                    start = time.process_time()
                    for params in sets:
                        await manager.fetch_all(client, params)
                    spent = time.process_time() - start
                    samples[name].append(spent / (len(sets) * FANOUT) * 1e6)
            gc.enable()
            ratios = [h / c for h, c in zip(samples["hit"], samples["call"], strict=True)]
            hit, call = statistics.median(samples["hit"]), statistics.median(samples["call"])
            print(f"CPU per provider call, median of {rounds} rounds of 50 fan-outs:")
            alone_us = statistics.median(samples["uncoalesced"])
            print("| cache hit | call to a 0 ms upstream | the same, coalescing off |")
            print(f"| {hit:.1f} us | {call:.1f} us | {alone_us:.1f} us |")
            print(f"hit / call: {statistics.median(ratios):.3f} (median of per-round ratios)")
    finally:
        stop(proc)


async def coalesce(cpus: str | None) -> None:
    proc, url = _start(cpus, "--delay-ms", "200")
    try:
        async with create_http_client(Settings(_env_file=None)) as client:
            for tag, policy in (("coalesced", {}), ("separate", {"coalesce": False})):
                manager = _manager(url, tag, policy)
                before = _count(url)
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(manager.fetch_all(client, {"city": "Seoul"}) for _ in range(100))
                )
                elapsed = (time.perf_counter() - started) * 1000
                calls = _count(url) - before
                complete = sum(r.summary.succeeded == FANOUT for r in results)
                print(
                    f"coalesce ({tag}): 100 concurrent identical fan-outs, {calls} upstream "
                    f"calls, {complete}/100 clients with all 20 results, {elapsed:.0f} ms"
                )
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reuse")
    parser.add_argument("--part", choices=["hedge", "cache", "coalesce"], action="append")
    parser.add_argument("--upstream-cpus", default=None, help="taskset CPU list for upstream")
    parser.add_argument("--fanouts", type=int, default=400, help="hedge: fan-outs per variant")
    parser.add_argument("--rounds", type=int, default=21, help="cache: CPU rounds")
    parser.add_argument("--width", type=int, default=4, help="hedge: fan-outs at a time")
    args = parser.parse_args(argv)
    parts = args.part or ["hedge", "cache", "coalesce"]
    if "hedge" in parts:
        uvloop.run(hedge(args.upstream_cpus, args.fanouts, args.width))
    if "cache" in parts:
        uvloop.run(cache(args.upstream_cpus, args.rounds))
    if "coalesce" in parts:
        uvloop.run(coalesce(args.upstream_cpus))


if __name__ == "__main__":
    main()
