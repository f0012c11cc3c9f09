"""The service under more than it can serve: saturation, slow-header clients, a locked table.

    python -m bench.overload --parts saturate,slowloris,lock [--tree /work/main] [--label before]

`--tree` runs the server from another checkout (the "before" figures); the bench itself,
the upstream and the probes are this checkout's. The server is pinned to CPU 0 and everything
else to CPU 1 (as `bench.run`). The upstream answers after `--delay-ms` (20 ms), so a fan-out of
3 providers is mostly waiting, as with real APIs. Each fan-out asks every provider about one
of `--cities` (10,000) places at random, as distinct clients do; `--cities 1` sends one URL
throughout, which coalescing (`POLICY_COALESCE`) turns into a convoy behind shared calls.

- saturate: fan-out p50/p99 at 1 connection (unloaded), goodput at 8..128 connections (peak),
  then `wrk -c1000` for 20 s while one prober calls `/healthz` (a new connection each time, as
  a Kubernetes probe does) every 50 ms and four call the fan-out, each every 20 ms. The same
  four fan-out probers also run alone first, so the admitted p99 under load is compared with
  an unloaded p99 measured the same way (new connections, this process's client).
- cpu: the server's CPU per fan-out with no gate, at 16 and 64 connections (`--tree` against
  this checkout compares two trees: run both, in turn, twice).
- slowloris: 1,000 connections that send one header byte every 5 s, for 60 s, while probes
  call `/healthz` and the fan-out every 500 ms; counts what answered 200.
- lock (PostgreSQL, strict mode): fan-out latency at 16 callers for 15 s, then with
  `external_api_logs` locked for 20 s, then 20 s after the lock is released.
"""

import argparse
import asyncio
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench._proc import ROOT, cpu_seconds, start_upstream, stop, taskset, wait_http

PORT = 8765
# Each request asks each provider about one of CITIES places at random (weather's `city`,
# geocoding's `q`, time_zone's `zone`), as distinct clients would: with one fixed URL every
# concurrent fan-out coalesces onto the same three upstream calls (POLICY_COALESCE), and the
# whole convoy wakes at once when they answer; `--cities 1` measures that case.
FANOUT = "/integrations/fetch?providers=weather,geocoding,time_zone&city=c{n}&q=c{n}&zone=z{n}"
CITIES = 10_000
_WRK_SCRIPT = """
local n, path, threads = %d, "%s", 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(os.time() * 100 + id)
end
function request()
  return wrk.format(nil, (path:gsub("{n}", tostring(math.random(n)))))
end
"""


def varied(path: str) -> str:
    """`path` with a random place, when it is the fan-out's."""
    return path.replace("{n}", str(random.randint(1, CITIES))) if path == FANOUT else path


@dataclass
class Probe:
    """Calls one path again and again on fresh connections; records (status, ms)."""

    path: str
    interval_s: float
    port: int = PORT
    samples: list[tuple[int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "Probe":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> "Probe":
        self._stop.set()
        assert self._thread is not None
        self._thread.join(35)
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            status = 0
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", varied(self.path))
                response = conn.getresponse()
                response.read()
                status = response.status
                conn.close()
            except OSError:
                status = 0
            self.samples.append((status, (time.perf_counter() - started) * 1000))
            self._stop.wait(self.interval_s)

    def summary(self) -> str:
        by_status: dict[int, list[float]] = {}
        for status, ms in self.samples:
            by_status.setdefault(status, []).append(ms)
        parts = []
        for status, values in sorted(by_status.items()):
            parts.append(
                f"{status or 'error'} x{len(values)} p50 {pct(values, 50):.1f} "
                f"p99 {pct(values, 99):.1f} max {max(values):.1f} ms"
            )
        return f"{self.path.split('?')[0]}: " + "; ".join(parts)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


@dataclass
class Wrk:
    requests: int
    non2xx: int
    timeouts: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def goodput(self) -> float:
        return (self.requests - self.non2xx) / self.seconds

    def __str__(self) -> str:
        return (
            f"{self.requests} requests, {self.non2xx} non-2xx, {self.timeouts} timeouts, "
            f"goodput {self.goodput:.0f}/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
        )


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(path: str, connections: int, seconds: float, cpus: str | None) -> Wrk:
    url = f"http://127.0.0.1:{PORT}{path.replace('{n}', '1')}"
    threads = 1 if connections < 100 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if path == FANOUT:
            script.write(_WRK_SCRIPT % (CITIES, path))
            script.flush()
            cmd += ["-s", script.name]
        out = subprocess.run(
            taskset([*cmd, "--latency", url], cpus), capture_output=True, text=True, check=True
        ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return Wrk(
        requests,
        int(non2xx.group(1)) if non2xx else 0,
        int(timeouts.group(1)) if timeouts else 0,
        seconds,
        _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
    )


@contextmanager
def server(tree: Path, env: dict[str, str], args: list[str]) -> Iterator[subprocess.Popen[str]]:
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(PORT), "--loop", "uvloop", "--http", "httptools", "--workers", "1"]
    cmd += ["--no-access-log", "--log-level", "warning", *args]
    proc = subprocess.Popen(taskset(cmd, "0"), cwd=tree, env=env, text=True)
    try:
        wait_http(f"http://127.0.0.1:{PORT}/healthz")
        yield proc
    finally:
        stop(proc)


def metrics(names: tuple[str, ...]) -> dict[str, float]:
    """The service's own counters whose name starts with one of `names`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        if line.startswith(names):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def busy(proc: subprocess.Popen[str], cpu_before: float, run: Wrk) -> str:
    """The server's CPU over `run`, and per fan-out answered 200 (what the goodput costs)."""
    used = cpu_seconds(proc.pid) - cpu_before
    good = max(run.requests - run.non2xx, 1)
    return f"server CPU {used / run.seconds:.0%}, {used / good * 1e6:.0f} us per 2xx"


def saturate(tree: Path, env: dict[str, str], server_args: list[str]) -> None:
    with server(tree, env, server_args) as proc:
        wrk(FANOUT, 16, 3, "1")  # warm-up
        unloaded = wrk(FANOUT, 1, 8, "1")
        print(f"  unloaded (1 conn, 8 s): {unloaded}", flush=True)
        runs = []
        for c in (8, 16, 32, 64, 96, 128):
            before = cpu_seconds(proc.pid)
            runs.append((wrk(FANOUT, c, 6, "1"), c))
            print(f"  {c} conns, 6 s: {runs[-1][0]}; {busy(proc, before, runs[-1][0])}", flush=True)
        peak = max(runs, key=lambda run: run[0].goodput)
        print(f"  peak goodput at {peak[1]} conns: {peak[0].goodput:.0f}/s", flush=True)
        alone = [Probe(FANOUT, 0.02).start() for _ in range(4)]
        time.sleep(8)
        alone_ok = [ms for p in alone for s, ms in p.stop().samples if s == 200]
        print(
            f"  fan-out probes alone (4 x every 20 ms, 8 s): {len(alone_ok)} answered 200, "
            f"p50 {pct(alone_ok, 50):.1f} p99 {pct(alone_ok, 99):.1f} ms",
            flush=True,
        )
        fanout_probes = [Probe(FANOUT, 0.02) for _ in range(4)]
        probes = [Probe("/healthz", 0.05).start(), *(p.start() for p in fanout_probes)]
        port = os.environ.get("BENCH_HEALTH_PORT")
        if port:
            probes.append(Probe("/healthz", 0.05, port=int(port)).start())
        before = cpu_seconds(proc.pid)
        loaded = wrk(FANOUT, 1000, 20, "1")
        for probe in probes:
            probe.stop()
        print(f"  wrk -c1000 20 s: {loaded}; {busy(proc, before, loaded)}", flush=True)
        # The probes' admitted fan-outs are goodput too: the server spent its CPU on them.
        probed = sum(s == 200 for p in fanout_probes for s, _ in p.samples) / loaded.seconds
        goodput = loaded.goodput + probed
        print(
            f"  goodput {goodput:.0f}/s (wrk {loaded.goodput:.0f}/s, probes {probed:.0f}/s) "
            f"= {goodput / peak[0].goodput:.2f} of peak",
            flush=True,
        )
        for probe in probes[:1] + probes[len(fanout_probes) + 1 :]:
            print(f"  probe (port {probe.port}) {probe.summary()}", flush=True)
        merged = Probe(FANOUT, 0.02, samples=[s for p in fanout_probes for s in p.samples])
        print(f"  fan-out probes {merged.summary()}", flush=True)
        shed = [ms for s, ms in merged.samples if s == 503]
        if shed:
            fast = sum(ms < 10 for ms in shed) / len(shed)
            print(f"  the probes' 503s answered in under 10 ms: {fast:.1%}", flush=True)
        admitted = [ms for s, ms in merged.samples if s == 200]
        print(
            f"  admitted p99 {pct(admitted, 99):.1f} ms = "
            f"{pct(admitted, 99) / pct(alone_ok, 99):.2f}x the probes' unloaded p99",
            flush=True,
        )
        for key, value in metrics(("fanout_admission",)).items():
            print(f"  {key} {value:g}", flush=True)


def cpu(tree: Path, env: dict[str, str], server_args: list[str]) -> None:
    """Service CPU per fan-out with no gate, at 16 and 64 connections (8 s each)."""
    with server(tree, {**env, "ADMISSION_MODE": "off"}, server_args) as proc:
        wrk(FANOUT, 16, 3, "1")  # warm-up
        for connections in (16, 64):
            before = cpu_seconds(proc.pid)
            run = wrk(FANOUT, connections, 8, "1")
            print(f"  {connections} conns, 8 s: {run}; {busy(proc, before, run)}", flush=True)


async def _slow_client(stop_at: float, opened: list[int], closed: list[int]) -> None:
    """Holds one connection that sends a header byte every 5 s; reconnects when closed."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        except OSError:
            await asyncio.sleep(1)
            continue
        opened[0] += 1
        sent = 0
        try:
            while time.monotonic() < stop_at:
                writer.write(head[sent % len(head) : sent % len(head) + 1])
                sent += 1
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(1024), 5)
                except TimeoutError:
                    continue
                if not data:
                    closed[0] += 1
                    break
        except OSError:
            closed[0] += 1
        finally:
            writer.close()


def slowloris(tree: Path, env: dict[str, str], server_args: list[str]) -> None:
    with server(tree, env, server_args):
        probes = [Probe("/healthz", 0.5).start(), Probe(FANOUT, 0.5).start()]
        opened, closed = [0], [0]

        async def run() -> None:
            stop_at = time.monotonic() + 60
            clients = [_slow_client(stop_at, opened, closed) for _ in range(1000)]
            await asyncio.gather(*clients)

        asyncio.run(run())
        for probe in probes:
            probe.stop()
        print(f"  slow-header connections: {opened[0]} opened, {closed[0]} closed by the server")
        print("  (1,000 held at a time for 60 s; probes every 0.5 s)")
        for probe in probes:
            print(f"  probe {probe.summary()}", flush=True)


def lock(tree: Path, env: dict[str, str], server_args: list[str], pg: str) -> None:
    import psycopg

    admin = psycopg.connect(pg, autocommit=True)
    admin.execute("DROP DATABASE IF EXISTS overload_bench WITH (FORCE)")
    admin.execute("CREATE DATABASE overload_bench")
    url = pg.rsplit("/", 1)[0] + "/overload_bench"
    env = {**env, "DATABASE_URL": url, "LOG_DURABILITY": "strict"}
    try:
        with server(tree, env, server_args):
            wrk(FANOUT, 16, 3, "1")
            phases: dict[str, list[tuple[int, float]]] = {}
            probes = [Probe(FANOUT, 0.0).start() for _ in range(16)]

            def phase(name: str, seconds: float) -> None:
                marks = [len(p.samples) for p in probes]
                time.sleep(seconds)
                pairs = zip(probes, marks, strict=True)
                phases[name] = [s for p, m in pairs for s in p.samples[m:]]

            phase("before", 15)
            holder = psycopg.connect(url)
            holder.execute("LOCK TABLE external_api_logs IN ACCESS EXCLUSIVE MODE")
            phase("during (20 s lock)", 20)
            holder.rollback()
            holder.close()
            phase("after", 20)
            for p in probes:
                p.stop()
            base = pct([ms for s, ms in phases["before"] if s == 200], 99)
            for name, samples in phases.items():
                ok = [ms for s, ms in samples if s == 200]
                other = len(samples) - len(ok)
                print(
                    f"  {name}: {len(ok)} answered 200 ({other} other), p50 {pct(ok, 50):.1f} "
                    f"p99 {pct(ok, 99):.1f} ms = {pct(ok, 99) / base:.2f}x before",
                    flush=True,
                )
            rows = psycopg.connect(url).execute("SELECT count(*) FROM external_api_logs")
            print(f"  rows at the end: {rows.fetchone()}", flush=True)
    finally:
        admin.execute("DROP DATABASE IF EXISTS overload_bench WITH (FORCE)")


def server_env(base_url: str, extra: list[str], **defaults: str) -> dict[str, str]:
    """The server's environment: the bench upstream, a fresh SQLite file and spool, no rate
    limit, then `defaults`, then `extra` (`KEY=VALUE` items from the command line)."""
    tmp = Path(tempfile.mkdtemp(prefix="overload-"))
    env = {
        **os.environ,
        "DEMO_UPSTREAM_URL": base_url,
        "DATABASE_URL": f"sqlite:///{tmp / 'calls.db'}",
        "LOG_SPOOL_DIR": str(tmp / "spool"),
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_PER_S": "0",
        **defaults,
    }
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> None:
    global CITIES
    parser = argparse.ArgumentParser(prog="python -m bench.overload")
    parser.add_argument("--parts", default="saturate,slowloris,lock")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout the server runs from")
    parser.add_argument("--label", default="")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument(
        "--cities", type=int, default=CITIES, help="distinct fan-out requests (1: one URL)"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--server-args", default="", help="extra uvicorn options, e.g. --limit-concurrency 1000"
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args(argv)
    CITIES = args.cities  # read by wrk() and the probes' threads
    os.sched_setaffinity(0, {1})  # the probes' client, with wrk and the upstream; CPU 0 serves
    upstream, base_url = start_upstream("1", args.delay_ms)
    env = server_env(base_url, args.env)
    server_args = args.server_args.split()
    print(f"# {args.label or args.tree} ({socket.gethostname()}, {os.cpu_count()} CPUs)")
    try:
        for part in args.parts.split(","):
            print(f"## {part}", flush=True)
            if part == "saturate":
                saturate(args.tree, env, server_args)
            elif part == "cpu":
                cpu(args.tree, env, server_args)
            elif part == "slowloris":
                slowloris(args.tree, env, server_args)
            elif part == "lock":
                lock(args.tree, env, server_args, args.postgres)
    finally:
        stop(upstream)


if __name__ == "__main__":
    main()
