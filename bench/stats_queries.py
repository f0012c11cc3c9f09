"""`/integrations/stats` and `/integrations/logs` over 1,000,000 rows, PostgreSQL and SQLite.

    .venv/bin/python -m bench.stats_queries                      # both databases
    .venv/bin/python -m bench.stats_queries --span-hours 24      # every row inside the window
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m ...

Rows are generated inside the database (`generate_series` on PostgreSQL, a recursive CTE on
SQLite) into a scratch PostgreSQL database created and dropped here, and a temp SQLite file.
Generating them bypasses the call-log writer, so the 5-minute rollup is then built from them
with `rebuild_rollups` (what `python -m app rebuild-rollups` runs), and that is timed too.
Rows arrive in time order with up to 5 s of jitter, as the write-behind writer inserts them
(so a window's rows sit together on disk, as in production). The timed requests go through
the whole app in-process (`httpx.ASGITransport`): routing, validation, the query, the response
model and JSON. Each figure is the median of `--runs`
requests after one warm-up, with the slowest also shown.
"""

import argparse
import asyncio
import functools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.calllog.rollup_rebuild import rebuild_rollups
from app.core.config import Settings
from app.core.db import create_db_engine
from app.core.migrate import upgrade_to_head
from app.integrations.registry import ProviderRegistry
from app.main import create_app

PROVIDERS = ProviderRegistry.from_package().names
TABLE = "external_api_logs"
# Column list shared by both generators; log_id exists once the durable writer's migration ran.
_PG_INSERT = """
INSERT INTO external_api_logs (provider, success, is_validation_error, response_time_ms, data,
    error_message, created_at, request_id, status_code, error_kind, attempts{log_id_col})
SELECT (CAST(:providers AS text[]))[1 + (g % :n_providers)],
       r >= 0.05, r < 0.01,
       round((5 + 120 * r2 * r2 + CASE WHEN r < 0.02 THEN 900 ELSE 0 END)::numeric, 3),
       CASE WHEN r >= 0.02 THEN '{{"city": "Seoul", "temperature_c": 21.5}}'::json END,
       CASE WHEN r < 0.05 THEN 'upstream answered HTTP 503' END,
       now() - make_interval(secs => CAST(:span_s AS float8) * (1 - g / CAST(:rows AS float8))
                                     + 5 * r2),
       md5((g / 20)::text),
       CASE WHEN r < 0.02 THEN NULL ELSE 200 END,
       CASE WHEN r < 0.01 THEN 'validation_error' WHEN r < 0.02 THEN 'timeout'
            WHEN r < 0.05 THEN 'http_status' END,
       1{log_id_val}
FROM (SELECT g, random() AS r, random() AS r2 FROM generate_series(1, :rows) AS g) AS s
"""
_SQLITE_INSERT = """
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :rows),
v AS (SELECT g, (abs(random()) % 1000000) / 1e6 AS r, (abs(random()) % 1000000) / 1e6 AS r2,
             (abs(random()) % 1000000) / 1e6 AS r3 FROM s)
INSERT INTO external_api_logs (provider, success, is_validation_error, response_time_ms, data,
    error_message, created_at, request_id, status_code, error_kind, attempts{log_id_col})
SELECT json_extract(:providers, '$[' || (g % :n_providers) || ']'),
       r >= 0.05, r < 0.01,
       round(5 + 120 * r2 * r2 + CASE WHEN r < 0.02 THEN 900 ELSE 0 END, 3),
       CASE WHEN r >= 0.02 THEN '{{"city": "Seoul", "temperature_c": 21.5}}' END,
       CASE WHEN r < 0.05 THEN 'upstream answered HTTP 503' END,
       strftime('%Y-%m-%d %H:%M:%f', 'now',
                '-' || (:span_s * (1.0 - g * 1.0 / :rows) + 5 * r3) || ' seconds'),
       hex(g / 20),
       CASE WHEN r < 0.02 THEN NULL ELSE 200 END,
       CASE WHEN r < 0.01 THEN 'validation_error' WHEN r < 0.02 THEN 'timeout'
            WHEN r < 0.05 THEN 'http_status' END,
       1{log_id_val}
FROM v
"""


def _fill(url: str, rows: int, span_s: int) -> tuple[float, float]:
    """Migrate, generate `rows` rows over the last `span_s` seconds, analyse, build the
    rollup; seconds taken to generate and to build the rollup."""
    upgrade_to_head(url)
    engine = create_db_engine(url)
    postgres = engine.dialect.name == "postgresql"
    start = time.perf_counter()
    with engine.begin() as conn:
        has_log_id = "log_id" in {c["name"] for c in inspect(conn).get_columns(TABLE)}
        log_id_val = ", lpad(to_hex(g), 32, '0')" if postgres else ", printf('%032x', g)"
        sql = (_PG_INSERT if postgres else _SQLITE_INSERT).format(
            log_id_col=", log_id" if has_log_id else "",
            log_id_val=log_id_val if has_log_id else "",
        )
        names: object = PROVIDERS if postgres else json.dumps(PROVIDERS)
        params = {"providers": names, "n_providers": len(PROVIDERS), "rows": rows}
        conn.execute(text(sql), {**params, "span_s": span_s})
    generated = time.perf_counter() - start
    start = time.perf_counter()
    rebuild_rollups(engine)
    built = time.perf_counter() - start
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Fresh statistics (and, on PostgreSQL, the visibility map for index-only scans).
        for table in (TABLE, "external_api_log_rollups"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}" if postgres else f"ANALYZE {table}")
    engine.dispose()
    return generated, built


async def _time(call: Callable[[], Awaitable[httpx.Response]], runs: int) -> tuple[float, float]:
    """Median and slowest wall time of `runs` calls, in ms, after one warm-up."""
    (await call()).raise_for_status()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return statistics.median(times), max(times)


async def _measure(url: str, runs: int) -> list[tuple[str, float, float]]:
    settings = Settings(
        database_url=url,
        db_auto_migrate=False,
        demo_upstream_url="http://127.0.0.1:9",
        _env_file=None,
    )
    app = create_app(settings)
    results = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        first = (await client.get("/integrations/logs", params={"limit": 50})).json()
        deep = first
        for _ in range(20):  # 20 pages in: a cursor from the middle of the table
            deep = (
                await client.get(
                    "/integrations/logs", params={"limit": 50, "cursor": deep["next_cursor"]}
                )
            ).json()
        cases: list[tuple[str, dict[str, str | int]]] = [
            ("stats window=24h, all providers", {"window": "24h"}),
            ("stats window=24h, provider=weather", {"window": "24h", "provider": "weather"}),
            ("stats window=1h, all providers", {"window": "1h"}),
            ("stats window=7d, all providers", {"window": "7d"}),
        ]
        for label, params in cases:
            med, worst = await _time(
                functools.partial(client.get, "/integrations/stats", params=params), runs
            )
            results.append((label, med, worst))
        pages: list[tuple[str, dict[str, str | int]]] = [
            ("logs first page (50)", {"limit": 50}),
            ("logs page 21 via cursor", {"limit": 50, "cursor": deep["next_cursor"]}),
            ("logs provider=weather", {"limit": 50, "provider": "weather"}),
            ("logs success=false", {"limit": 50, "success": "false"}),
            ("logs validation_errors_only", {"limit": 50, "validation_errors_only": "true"}),
            (
                "logs error_kind=timeout, provider",
                {"limit": 50, "error_kind": "timeout", "provider": "geocoding"},
            ),
        ]
        for label, params in pages:
            med, worst = await _time(
                functools.partial(client.get, "/integrations/logs", params=params), runs
            )
            results.append((label, med, worst))
    return results


def _postgres_scratch(server_url: str) -> tuple[str, Callable[[], None]]:
    server = Settings(database_url=server_url, _env_file=None).database_url
    name = f"fanout_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stats_queries")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--span-hours", type=float, default=168.0, help="rows spread over this")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    span_s = int(args.span_hours * 3600)
    pg_server = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    print(
        f"{args.rows:,} rows over the last {args.span_hours:g} h; median / slowest of {args.runs}"
    )
    for backend in ("postgresql", "sqlite"):
        if args.only and backend != args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                url, cleanup = f"sqlite:///{Path(tmp) / 'bench.db'}", (lambda: None)
            else:
                url, cleanup = _postgres_scratch(pg_server)
            try:
                generated, built = _fill(url, args.rows, span_s)
                print(
                    f"\n{backend}: rows generated in {generated:.1f} s, "
                    f"rollup built from them in {built:.1f} s"
                )
                for label, med, worst in asyncio.run(_measure(url, args.runs)):
                    print(f"  {label:38s} {med:8.1f} ms   (slowest {worst:.1f})")
            finally:
                cleanup()


if __name__ == "__main__":
    main()
