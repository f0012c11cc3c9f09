"""Call-log benchmark: writer throughput, fan-out cost of logging per mode, memory over time.

    .venv/bin/python -m bench.calllog_writer [--postgres URL] [--seconds 24] [--rounds 12]
        [--rss-requests 100000] [--concurrency 128] [--parts writer,fanout,rss]

1. The writer alone: rows/s from `submit` to committed, into SQLite and PostgreSQL.
2. Fan-out throughput (fan-outs/s, 20 providers each, `--concurrency` of them in flight,
   against the simulator in its own process) with logging off, strict and fast; each mode as a
   ratio to off.
3. RSS after 10,000 and 100,000 fan-outs (two providers each) with logging on (strict).
4. `--parts commit`: how long a strict `record` of one 20-result fan-out waits when it is the
   only one (a group of one): what one client's answer waits for its rows to be durable (the
   journal's append, on SQLite), and the process CPU each costs, its database flush included.
"""

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.calllog import CallLogWriter, Durability
from app.core.config import Settings
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.core.runtime import tune_gc
from app.http import HttpClient, create_http_client
from app.integrations.manager import ApiIntegrationManager, CallLogSink
from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry
from bench._proc import ROOT, stop
from tests.calllog.helpers import result


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def writer_alone(url: str, spool: Path, batch_size: int, rows: int = 200_000) -> float:
    upgrade_to_head(url)
    engine = create_db_engine(url)
    writer = CallLogWriter(
        engine,
        durability=Durability.FAST,
        spool_dir=spool,
        commit_timeout_s=1.0,
        max_queue_rows=rows,  # all submitted up front: measure the database, not the spill
        batch_size=batch_size,
    )
    results = [result(f"p{i}") for i in range(20)]
    writer.start()
    started = time.perf_counter()
    for i in range(rows // 20):
        writer.submit(f"req-{i}", results)
    while writer.stats().written + writer.stats().spooled < rows:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    assert writer.stats().spooled == 0, "the database fell behind: rows went to the spool"
    writer.close()
    engine.dispose()
    return rows / elapsed


def started_writer(url: str, durability: Durability, spool: Path) -> tuple[CallLogWriter, Engine]:
    """A migrated database and a running writer on it, with the app's defaults otherwise."""
    upgrade_to_head(url)
    engine = create_db_engine(url)
    writer = CallLogWriter(engine, durability=durability, spool_dir=spool)
    writer.start()
    return writer, engine


async def lone_commits(url: str, spool: Path, count: int = 400) -> tuple[float, float]:
    """Median wall ms of a strict `record` of 20 results, one at a time, and CPU ms per one."""
    writer, engine = started_writer(url, Durability.STRICT, spool)
    results = [result(f"p{i:02d}") for i in range(20)]
    waits: list[float] = []
    cpu = time.process_time()
    for i in range(count):
        started = time.perf_counter()
        await writer.record(f"lone-{i}", results)
        waits.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu) / count * 1000
    assert writer.stats().spooled == 0, "a flush missed its commit bound: rows went to the spool"
    await asyncio.to_thread(writer.close)
    engine.dispose()
    return statistics.median(waits), cpu_ms


def start_simulator() -> tuple["subprocess.Popen[str]", str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.simulator",
            "--port",
            "0",
            "--latency-scale",
            "0",
            "--error-rate",
            "0",
            "--drift-rate",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


async def fan_outs(
    manager: ApiIntegrationManager,
    settings: Settings,
    *,
    client: HttpClient | None = None,
    seconds: float = 0,
    count: int = 0,
    concurrency: int = 128,
    names: list[str] | None = None,
) -> float:
    """Run fan-outs for `seconds` or `count` of them; returns fan-outs per second."""
    if client is None:
        async with create_http_client(settings) as own_client:
            return await fan_outs(
                manager,
                settings,
                client=own_client,
                seconds=seconds,
                count=count,
                concurrency=concurrency,
                names=names,
            )
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while (count and done < count) or (seconds and time.perf_counter() - started < seconds):
            done += 1
            await manager.fetch_all(client, {}, names=names)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def manager_for(settings: Settings, sink: CallLogSink | None) -> ApiIntegrationManager:
    classes = [c for c in ProviderRegistry.from_package().classes() if issubclass(c, DemoProvider)]
    return ApiIntegrationManager([c(settings) for c in classes], sink, default_timeout_ms=5000)


async def throughput(
    settings: Settings, url: str, spool: Path, seconds: float, rounds: int, concurrency: int
) -> dict[str, tuple[float, float]]:
    """Fan-outs/s per mode and the median over rounds of each mode's ratio to "off".

    The three managers live side by side and the rounds interleave them (the order alternates),
    so a slow stretch of the shared machine hits every mode alike instead of one of them.
    """
    writers: dict[str, CallLogWriter | None] = {"off": None}
    for mode in ("strict", "fast"):
        # A database file each: one writer's commit never waits on the other's lock.
        mode_url = url.replace(".db", f"-{mode}.db")
        writers[mode], _ = started_writer(mode_url, Durability(mode), spool / mode)
    managers = {mode: manager_for(settings, writer) for mode, writer in writers.items()}
    rates: dict[str, list[float]] = {mode: [] for mode in managers}
    async with create_http_client(settings) as client:  # one client, as in the app
        await fan_outs(managers["off"], settings, client=client, seconds=1.0)  # warm-up
        # The app's garbage-collector schedule (`app/core/runtime.py`), as its lifespan sets it.
        restore_gc = tune_gc(
            freeze_startup_heap=settings.gc_freeze_startup_heap,
            gen0_threshold=settings.gc_gen0_threshold,
        )
        for round_ in range(rounds):
            order = list(managers) if round_ % 2 == 0 else list(reversed(managers))
            for mode in order:
                rate = await fan_outs(
                    managers[mode],
                    settings,
                    client=client,
                    seconds=seconds / rounds,
                    concurrency=concurrency,
                )
                rates[mode].append(rate)
        restore_gc()
    for mode, writer in writers.items():
        if writer is not None:
            await asyncio.to_thread(writer.close)
            stats = writer.stats()
            assert stats.dropped == 0
            # Rows that missed the commit bound went through the spool: written twice.
            print(f"  {mode}: {stats.written:,} rows committed, {stats.spooled:,} spooled")
    return {
        mode: (
            statistics.median(values),
            statistics.median(v / off for v, off in zip(values, rates["off"], strict=True)),
        )
        for mode, values in rates.items()
    }


async def memory(settings: Settings, url: str, spool: Path, total: int) -> tuple[float, float]:
    writer, _ = started_writer(url, Durability.STRICT, spool)
    manager = manager_for(settings, writer)
    # Two providers per fan-out, so 100,000 of them fit in minutes on a small machine.
    names = ["weather", "exchange_rates"]
    await fan_outs(manager, settings, count=10_000, names=names)
    at_10k = rss_mib()
    await fan_outs(manager, settings, count=total - 10_000, names=names)
    at_total = rss_mib()
    await asyncio.to_thread(writer.close)
    return at_10k, at_total


def fresh_postgres(server: str) -> tuple[str, str]:
    name = f"bench_calllog_{uuid.uuid4().hex[:8]}"
    admin = create_engine(Settings(database_url=server).database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(Settings(database_url=server).database_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_postgres(server: str, name: str) -> None:
    admin = create_engine(Settings(database_url=server).database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=24.0, help="per mode, all rounds")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--rss-requests", type=int, default=100_000)
    parser.add_argument(
        "--concurrency", type=int, default=128, help="fan-outs in flight in the fanout part"
    )
    parser.add_argument(
        "--parts", default="writer,fanout,rss", help="comma list of: writer, fanout, rss, commit"
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no CPU pinning")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sqlite_url = f"sqlite:///{base / 'bench.db'}"
        for batch in (500, 2000) if "writer" in parts else ():
            rate = writer_alone(sqlite_url, base / "s1", batch)
            print(f"writer alone, SQLite,     batch {batch:>4}: {rate:>9,.0f} rows/s")
        if args.postgres and "writer" in parts:
            pg_url, name = fresh_postgres(args.postgres)
            try:
                for batch in (500, 2000):
                    rate = writer_alone(pg_url, base / "s2", batch)
                    print(f"writer alone, PostgreSQL, batch {batch:>4}: {rate:>9,.0f} rows/s")
            finally:
                drop_postgres(args.postgres, name)
        if "commit" in parts:
            lone_url = f"sqlite:///{base / 'lone.db'}"
            wait_ms, cpu_ms = asyncio.run(lone_commits(lone_url, base / "s5"))
            print(
                f"strict record of one 20-row fan-out, alone: {wait_ms:.2f} ms wait (median), "
                f"{cpu_ms:.2f} ms of process CPU each"
            )
        if not parts & {"fanout", "rss"}:
            return
        sim, sim_url = start_simulator()
        if args.pin:
            # As `bench.run` does: the upstream on one core, the code under test (event loop
            # and the writer's threads, which inherit this) on the other, so the scheduler
            # moving threads between cores does not decide the ratios.
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})
        try:
            settings = Settings(_env_file=None, demo_upstream_url=sim_url)
            fan_url = f"sqlite:///{base / 'fan.db'}"
            figures = (
                asyncio.run(
                    throughput(
                        settings, fan_url, base / "s3", args.seconds, args.rounds, args.concurrency
                    )
                )
                if "fanout" in parts
                else {}
            )
            for mode, (rate, ratio) in figures.items():
                print(
                    f"fan-outs/s, logging {mode:<6}: {rate:7.1f} "
                    f"(median of {args.rounds} round ratios: {ratio:.2f}x off)"
                )
            if "rss" not in parts:
                return
            at_10k, at_total = asyncio.run(
                memory(settings, fan_url, base / "s4", args.rss_requests)
            )
            print(
                f"RSS after 10,000 fan-outs: {at_10k:.1f} MiB; after "
                f"{args.rss_requests:,}: {at_total:.1f} MiB ({at_total / at_10k - 1:+.1%})"
            )
        finally:
            stop(sim)


if __name__ == "__main__":
    main()
