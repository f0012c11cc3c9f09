"""The service benchmark: service vs a bare ceiling, and 100 providers vs 20, in one run.

    .venv/bin/python -m bench.run [--rounds 3] [--duration 8] [--latency-duration 5] [--no-pin]

Starts `bench.upstream` (own process, uvloop, delay 0), then one server at a time, each with
uvicorn --loop uvloop --http httptools --workers 1 --no-access-log:

* ceiling-20 / ceiling-100: `bench.ceiling` (raw ASGI + aiohttp, no framework, no DB);
* service-20: `app.main:app` (the 20 bundled demo providers), SQLite call log on;
* service-100: `bench.app_many:app` (100 generated providers), SQLite call log on.

Each is warmed up, then measured with wrk: throughput at 16 connections (and the server
process's CPU seconds over that run, from /proc/<pid>/stat, for the cost per upstream call),
then median latency at 1 connection. On a machine with >= 2 CPUs the server is pinned to
CPU 0 and the upstream and wrk to CPU 1 (taskset), so every server gets the same core.
Each service runs right next to its ceiling, `--rounds` times, alternating which goes first;
ratios are the median of each round's ratio (one ceiling run alone swung by 40% here).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench._proc import ROOT, cpu_seconds, start_upstream, stop, taskset, wait_http

PORT = 18_480


@dataclass
class Target:
    label: str
    app: str
    providers: int
    env: dict[str, str]
    is_service: bool


@dataclass
class Result:
    target: Target
    rps: float
    requests: int
    cpu_s: float
    p50_ms: float
    errors: str

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s / self.requests * 1000

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s / (self.requests * self.target.providers) * 1e6


@dataclass
class Wrk:
    requests: int
    rps: float
    p50_ms: float
    errors: str


def _wrk(url: str, connections: int, seconds: float, cpus: str | None) -> Wrk:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s"]
    cmd += ["--latency", url]
    out = subprocess.run(taskset(cmd, cpus), capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    assert p50 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    errors = [
        line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line
    ]
    return Wrk(requests, rps, float(p50.group(1)) * scale, "; ".join(errors))


def _check(url: str, target: Target) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        body = json.loads(response.read())
    results = body["results"]
    if target.is_service:
        failed = [r for r in results if not r["success"]]
        assert body["summary"]["total"] == target.providers, body["summary"]
    else:
        failed = [r for r in results if r.get("status") != 200]
    assert len(results) == target.providers, len(results)
    if failed:
        raise SystemExit(f"{target.label}: {len(failed)} calls failed, e.g. {failed[0]}")


def measure(target: Target, args: argparse.Namespace, base_env: dict[str, str]) -> Result:
    server_cpus = "0" if args.pin else None
    load_cpus = "1" if args.pin else None
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target.app,
        "--host",
        "127.0.0.1",
        "--port",
        str(PORT),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**base_env, **target.env}
    proc = subprocess.Popen(taskset(cmd, server_cpus), cwd=ROOT, env=env, text=True)
    url = f"http://127.0.0.1:{PORT}/integrations/fetch"
    try:
        wait_http(url)
        _check(url, target)
        _wrk(url, 16, args.warmup, load_cpus)
        # With taskset the child execs in place, so proc.pid is the server's pid.
        cpu_before = cpu_seconds(proc.pid)
        loaded = _wrk(url, 16, args.duration, load_cpus)
        cpu = cpu_seconds(proc.pid) - cpu_before
        single = _wrk(url, 1, args.latency_duration, load_cpus)
        _check(url, target)
    finally:
        stop(proc)
    errors = "; ".join(e for e in (loaded.errors, single.errors) if e)
    return Result(target, loaded.rps, loaded.requests, cpu, single.p50_ms, errors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--duration", type=float, default=8, help="wrk seconds at 16 conns")
    parser.add_argument("--latency-duration", type=float, default=5, help="wrk s at 1 conn")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3, help="each target this many times, interleaved"
    )
    parser.add_argument(
        "--pin", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 2
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    started = time.monotonic()
    upstream, upstream_url = start_upstream("1" if args.pin else None)
    tmp = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    base_env = {
        **os.environ,
        "DEMO_UPSTREAM_URL": upstream_url,
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
        # The 20 demo providers only: the example provider files in providers/ (which the
        # service loads from its working directory) call hosts the bench upstream does not serve.
        "PROVIDERS_DIR": "",
    }
    targets = [
        Target("ceiling-20", "bench.ceiling:app", 20, {"BENCH_PROVIDERS": "default"}, False),
        Target(
            "service-20", "app.main:app", 20, {"DATABASE_URL": f"sqlite:///{tmp / 's20.db'}"}, True
        ),
        Target("ceiling-100", "bench.ceiling:app", 100, {"BENCH_PROVIDERS": "many"}, False),
        Target(
            "service-100",
            "bench.app_many:app",
            100,
            {"DATABASE_URL": f"sqlite:///{tmp / 's100.db'}"},
            True,
        ),
    ]
    rounds: list[dict[str, Result]] = []
    try:
        for number in range(args.rounds):
            results: dict[str, Result] = {}
            # Each service runs right next to its ceiling; which goes first alternates.
            for pair in (targets[:2], targets[2:]):
                for target in pair if number % 2 == 0 else pair[::-1]:
                    results[target.label] = r = measure(target, args, base_env)
                    print(
                        f"round {number + 1}: {target.label}: {r.rps:.1f} req/s @16, "
                        f"p50 {r.p50_ms:.2f} ms @1, {r.cpu_us_per_call:.1f} us CPU/upstream call "
                        f"{r.errors}",
                        flush=True,
                    )
            rounds.append(results)
    finally:
        stop(upstream)
        shutil.rmtree(tmp, ignore_errors=True)
    _report(rounds, args, time.monotonic() - started)


def _median(rounds: list[dict[str, Result]], value: Callable[[dict[str, Result]], float]) -> float:
    return statistics.median(value(results) for results in rounds)


def _report(rounds: list[dict[str, Result]], args: argparse.Namespace, elapsed: float) -> None:
    pin = "server on CPU 0, upstream+wrk on CPU 1" if args.pin else "no pinning"
    print(
        f"\n{sys.platform}, {os.cpu_count()} CPUs, {pin}; wrk -t1; "
        f"{args.duration:g}s @16 conns, {args.latency_duration:g}s @1 conn; "
        f"{len(rounds)} rounds, medians (ratios: median of each round's ratio); "
        f"run took {elapsed:.0f}s\n"
    )
    print(
        "| target | providers | req/s @16 conns | vs ceiling | p50 ms @1 conn | vs ceiling "
        "| server CPU ms/request | CPU us/upstream call |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, first in rounds[0].items():
        ceiling = f"ceiling-{first.target.providers}"

        def median(
            value: Callable[[Result, Result], float], label: str = label, ceiling: str = ceiling
        ) -> float:
            return _median(rounds, lambda results: value(results[label], results[ceiling]))

        print(
            f"| {label} | {first.target.providers} | {median(lambda r, c: r.rps):.1f} "
            f"| {median(lambda r, c: r.rps / c.rps):.2f}x | {median(lambda r, c: r.p50_ms):.2f} "
            f"| {median(lambda r, c: r.p50_ms / c.p50_ms):.2f}x "
            f"| {median(lambda r, c: r.cpu_ms_per_request):.2f} "
            f"| {median(lambda r, c: r.cpu_us_per_call):.1f} |"
        )
    throughput = _median(rounds, lambda r: r["service-20"].rps / r["ceiling-20"].rps)
    latency = _median(rounds, lambda r: r["service-20"].p50_ms / r["ceiling-20"].p50_ms)
    per_call = _median(
        rounds, lambda r: r["service-100"].cpu_us_per_call / r["service-20"].cpu_us_per_call
    )
    checks = [
        ("service-20 throughput >= 0.7x ceiling", throughput, throughput >= 0.7),
        ("service-20 p50 latency <= 1.5x ceiling", latency, latency <= 1.5),
        ("service cost/upstream call, 100 vs 20 <= 1.2x", per_call, per_call <= 1.2),
    ]
    print("\n| target | ratio | met |\n|---|---:|---|")
    for name, ratio, ok in checks:
        print(f"| {name} | {ratio:.2f}x | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
