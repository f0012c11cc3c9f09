"""What tracing costs the service, per upstream call: off, and on with every request sampled.

    .venv/bin/python -m bench.tracing_cost [--rounds 3] [--baseline-ref main] [--fanout]

Runs the service (`app.main:app`, the 20 demo providers, SQLite call log) under uvicorn as
`bench.run` does, server on CPU 0 and the upstream, wrk and the OTLP receiver on CPU 1, in
three variants, interleaved round by round:

* `before`: the tree of `--baseline-ref` (exported with `git archive`): no tracing code;
* `off`: this tree, no `OTEL_*` variable set;
* `on`: this tree, `OTEL_EXPORTER_OTLP_ENDPOINT` = `bench.otlp_sink` (a real OTLP/HTTP
  receiver in its own process), `OTEL_TRACES_SAMPLER=always_on`, the SDK's batch processor;
* `on-10%`: the same with `parentbased_traceidratio` at 0.1 (one request in ten recorded).

Reported: the server's CPU per upstream call at 16 connections (from /proc), req/s and the
p50 at 1 connection; ratios are the median of each round's ratio to `before`.

`--fanout` measures the fan-out alone instead, much less noisy: `ApiIntegrationManager.
fetch_all` over the 20 demo providers in a process of its own per variant and round
(`bench/tracing_worker.py`, pinned to CPU 0), its CPU per upstream call from
`time.process_time` (every thread: the exporter's included, flushed inside the window).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench._proc import ROOT, cpu_seconds, start_upstream, stop, taskset, wait_http
from bench.run import Target, _check, _wrk

PORT = 18_490
PROVIDERS = 20


@dataclass
class Run:
    rps: float
    p50_ms: float
    cpu_us_per_call: float
    spans_per_request: float


def _baseline_tree(ref: str, into: Path) -> Path:
    tree = into / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _start_sink(cpus: str | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "bench.otlp_sink", "--port", "0"]
    proc = subprocess.Popen(taskset(cmd, cpus), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.removeprefix("listening on ")


def _spans(sink_url: str) -> int:
    with urllib.request.urlopen(f"{sink_url}/count", timeout=5) as response:  # noqa: S310
        return int(response.read())


def measure(tree: Path, env: dict[str, str], args: argparse.Namespace, sink: str) -> Run:
    server_cpus, load_cpus = ("0", "1") if args.pin else (None, None)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
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
    env = {**env, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(taskset(cmd, server_cpus), cwd=tree, env=env, text=True)
    url = f"http://127.0.0.1:{PORT}/integrations/fetch"
    target = Target("service", "app.main:app", PROVIDERS, {}, True)
    spans_before = _spans(sink)
    try:
        wait_http(url)
        _check(url, target)
        warm = _wrk(url, 16, args.warmup, load_cpus)
        cpu_before = cpu_seconds(proc.pid)
        loaded = _wrk(url, 16, args.duration, load_cpus)
        cpu = cpu_seconds(proc.pid) - cpu_before
        single = _wrk(url, 1, args.latency_duration, load_cpus)
    finally:
        stop(proc)  # the lifespan's end flushes the last spans
    # wait_http's GET and _check's each made a fan-out too.
    requests = warm.requests + loaded.requests + single.requests + 2
    return Run(
        loaded.rps,
        single.p50_ms,
        cpu / (loaded.requests * PROVIDERS) * 1e6,
        (_spans(sink) - spans_before) / requests,
    )


def measure_fanout(tree: Path, env: dict[str, str], args: argparse.Namespace) -> Run:
    worker = ROOT / "bench" / "tracing_worker.py"
    cmd = [sys.executable, str(worker), "--upstream", env["DEMO_UPSTREAM_URL"]]
    cmd += ["--fanouts", str(args.fanouts)]
    out = subprocess.run(
        taskset(cmd, "0" if args.pin else None),
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    value = float(out.split("cpu_us_per_call ")[1])
    return Run(0.0, 0.0, value, 0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cost")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--latency-duration", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--baseline-ref", default="main", help="git ref of `before`")
    parser.add_argument("--fanout", action="store_true", help="the fan-out alone, in-process")
    parser.add_argument("--fanouts", type=int, default=300, help="per round, with --fanout")
    parser.add_argument(
        "--pin", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 2
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="fanout-tracing-"))
    upstream, upstream_url = start_upstream("1" if args.pin else None)
    sink, sink_url = _start_sink("1" if args.pin else None)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # The 20 demo providers only: the example provider files in providers/ (which the
    # service loads from its working directory) call hosts the bench upstream does not serve.
    base = {**clean, "DEMO_UPSTREAM_URL": upstream_url, "LOG_LEVEL": "warning", "PROVIDERS_DIR": ""}
    variants = {
        "before": (_baseline_tree(args.baseline_ref, tmp), {}),
        "off": (ROOT, {}),
        "on": (
            ROOT,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
                "OTEL_TRACES_SAMPLER": "always_on",
                "OTEL_SERVICE_NAME": "api-fanout-bench",
            },
        ),
        "on-10%": (
            ROOT,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
                "OTEL_SERVICE_NAME": "api-fanout-bench",
            },
        ),
    }
    rounds: list[dict[str, Run]] = []
    try:
        for number in range(args.rounds):
            order = list(variants) if number % 2 == 0 else list(variants)[::-1]
            results = {}
            for label in order:
                tree, extra = variants[label]
                db = tmp / f"{label}-{number}.db"
                env = {**base, **extra, "DATABASE_URL": f"sqlite:///{db}"}
                if args.fanout:
                    results[label] = r = measure_fanout(tree, env, args)
                else:
                    results[label] = r = measure(tree, env, args, sink_url)
                print(
                    f"round {number + 1}: {label}: {r.cpu_us_per_call:.1f} us CPU/upstream call, "
                    f"{r.rps:.1f} req/s @16, p50 {r.p50_ms:.2f} ms @1, "
                    f"{r.spans_per_request:.1f} spans exported/request",
                    flush=True,
                )
            rounds.append(results)
    finally:
        stop(sink)
        stop(upstream)
        shutil.rmtree(tmp, ignore_errors=True)
    _report(rounds, args, time.monotonic() - started)


def _report(rounds: list[dict[str, Run]], args: argparse.Namespace, elapsed: float) -> None:
    def med(label: str, field: str) -> float:
        return statistics.median(getattr(r[label], field) for r in rounds)

    def ratio(label: str, field: str) -> float:
        return statistics.median(
            getattr(r[label], field) / getattr(r["before"], field) for r in rounds
        )

    pin = "server on CPU 0, upstream+wrk+receiver on CPU 1" if args.pin else "no pinning"
    print(
        f"\n{os.cpu_count()} CPUs, {pin}; {args.duration:g}s @16 conns, "
        f"{args.latency_duration:g}s @1 conn; {len(rounds)} rounds, medians; "
        f"run took {elapsed:.0f}s\n"
    )
    print("| variant | CPU us/upstream call | vs before | req/s @16 | p50 ms @1 | spans/request |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in ("before", "off", "on", "on-10%"):
        spans = med(label, "spans_per_request")
        print(
            f"| {label} | {med(label, 'cpu_us_per_call'):.1f} "
            f"| {ratio(label, 'cpu_us_per_call'):.3f}x | {med(label, 'rps'):.1f} "
            f"| {med(label, 'p50_ms'):.2f} | {spans:.1f} |"
        )
    off, on = ratio("off", "cpu_us_per_call"), ratio("on", "cpu_us_per_call")
    print("\n| target | ratio | met |\n|---|---:|---|")
    for name, value, limit in (("off", off, 1.02), ("on", on, 1.10)):
        met = "yes" if value <= limit else "NO"
        print(f"| tracing {name} <= {limit:.2f}x per upstream call | {value:.3f}x | {met} |")


if __name__ == "__main__":
    main()
