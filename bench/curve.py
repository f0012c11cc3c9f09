"""The service's own latency/throughput curve, with no admission gate: what any limit can reach.

    python -m bench.curve [--runs 3] [--env KEY=VALUE ...]

An admission limit only chooses how many fan-outs run at once; it cannot make one cheaper. So
the best a limit can do under overload is a point on the curve the service draws with no gate
at all, as wrk's connections step from 8 to 128 (each step is a concurrency the gate could
hold). For each step this prints the goodput as a share of the run's peak and the p99 as a
multiple of the unloaded p99 (one connection), then the bound for issue 18's two targets,
"goodput >= 0.9 of the peak" and "p99 <= 2x unloaded": the lowest p99 multiple among the
steps that reach 0.9 of the peak, the highest share among the steps within 2x, and the steps
that meet both, if any.

The setup is `bench.overload`'s: the server on CPU 0, wrk and the upstream (20 ms) on CPU 1,
each fan-out asking about one of 10,000 places. Latencies are wrk's, on kept-alive
connections, so the unloaded p99 and the loaded ones are measured the same way.
"""

import argparse
import os
import socket

from bench import overload
from bench._proc import ROOT, cpu_seconds, start_upstream, stop

STEPS = (8, 16, 24, 32, 40, 48, 56, 64, 96, 128)
GOODPUT_SHARE = 0.9  # issue 18: goodput at least 90 % of the peak ...
P99_MULTIPLE = 2.0  # ... and admitted fan-outs' p99 at most 2x their unloaded p99


def sweep(env: dict[str, str], server_args: list[str], seconds: int) -> None:
    with overload.server(ROOT, env, server_args) as proc:
        overload.wrk(overload.FANOUT, 16, 3, "1")  # warm-up
        unloaded = overload.wrk(overload.FANOUT, 1, 8, "1")
        print(f"  unloaded (1 conn): p50 {unloaded.p50_ms:.1f} p99 {unloaded.p99_ms:.1f} ms")
        steps = []
        for conns in STEPS:
            before = cpu_seconds(proc.pid)
            run = overload.wrk(overload.FANOUT, conns, seconds, "1")
            steps.append((conns, run, overload.busy(proc, before, run)))
    peak = max(run.goodput for _, run, _ in steps)
    both = []
    for conns, run, cpu in steps:
        share, multiple = run.goodput / peak, run.p99_ms / unloaded.p99_ms
        if share >= GOODPUT_SHARE and multiple <= P99_MULTIPLE:
            both.append(conns)
        print(
            f"  {conns:3d} conns: {run.goodput:5.0f}/s = {share:.2f} of peak, p50 "
            f"{run.p50_ms:5.1f} p99 {run.p99_ms:6.1f} ms = {multiple:5.2f}x unloaded; {cpu}",
            flush=True,
        )
    runs = [run for _, run, _ in steps]
    fast = [run.p99_ms / unloaded.p99_ms for run in runs if run.goodput >= GOODPUT_SHARE * peak]
    full = [run.goodput / peak for run in runs if run.p99_ms <= P99_MULTIPLE * unloaded.p99_ms]
    print(
        f"  bound: at >= {GOODPUT_SHARE} of the peak ({peak:.0f}/s) the p99 is at best "
        f"{min(fast):.2f}x unloaded; within {P99_MULTIPLE}x, the goodput is at best "
        f"{max(full, default=0):.2f} of the peak; both met at: "
        f"{', '.join(f'{c} conns' for c in both) or 'no step'}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.curve")
    parser.add_argument("--runs", type=int, default=1, help="sweeps, each on a fresh server")
    parser.add_argument("--seconds", type=int, default=6, help="per step")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--server-args", default="", help="extra uvicorn options")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {1})  # with wrk and the upstream; CPU 0 serves
    upstream, base_url = start_upstream("1", args.delay_ms)
    env = overload.server_env(base_url, args.env, ADMISSION_MODE="off")
    print(f"# the service with no gate ({socket.gethostname()}, {os.cpu_count()} CPUs)")
    try:
        for number in range(1, args.runs + 1):
            print(f"## run {number}", flush=True)
            sweep(env, args.server_args.split(), args.seconds)
    finally:
        stop(upstream)


if __name__ == "__main__":
    main()
