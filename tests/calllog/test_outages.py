"""The service under load while its database stops, locks up or fills the spool.

PostgreSQL is not stopped for real: other tests share the server. The app reaches it through a
TCP relay (`TcpProxy`) that the test cuts and restores, which is what a stopped server looks
like from the app (live sessions reset, new connections refused), for this app only.
SQLite is locked by another connection holding an exclusive transaction. (Making the file
read-only is no test here: the suite runs as root, which chmod does not restrict, and open
descriptors keep writing anyway.)
"""

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.calllog import CallLogWriter, WriterStats
from app.core.migrate import upgrade_to_head
from app.main import create_app
from app.simulator import Simulator
from tests.calllog.helpers import TcpProxy, duplicated_calls, row_counts
from tests.conftest import api_client, make_settings
from tests.support.polling import wait_until
from tests.support.providers import demo_registry

PROVIDERS = ["weather", "exchange_rates", "time_zone", "geocoding", "vat_rates"]


async def load(client: httpx.AsyncClient, requests: int) -> list[dict[str, Any]]:
    """`requests` concurrent fan-outs; every answer must be a full success."""

    async def one() -> dict[str, Any]:
        response = await client.post(
            "/integrations/fetch", json={"providers": PROVIDERS, "params": {"city": "Jeju"}}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert [r["provider"] for r in body["results"]] == PROVIDERS
        assert all(r["success"] for r in body["results"]), body
        return body

    return list(await asyncio.gather(*(one() for _ in range(requests))))


def writer_of(app: FastAPI) -> CallLogWriter:
    writer: CallLogWriter = app.state.log_writer
    return writer


async def wait_for_stats(writer: CallLogWriter, condition: Callable[[WriterStats], bool]) -> None:
    """Poll (bounded, in a thread) until `condition` holds of one snapshot of the stats."""
    await asyncio.to_thread(wait_until, lambda: condition(writer.stats()))


async def run_outage(
    app: FastAPI, break_db: Callable[[], None], heal_db: Callable[[], None]
) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    async for client in api_client(app):
        writer = writer_of(app)
        answers += await load(client, 20)
        break_db()
        answers += await load(client, 20)  # every one answered while the database is out
        # Strict answers come only after the spool took their rows; fast mode spools soon after.
        await wait_for_stats(writer, lambda stats: stats.spooled > 0)
        assert writer.health().healthy  # rows are durable in the spool: no alarm
        heal_db()
        answers += await load(client, 20)
        await wait_for_stats(writer, lambda stats: stats.spool_rows == 0)
    return answers


def assert_rows_equal_calls(url: str, answers: list[dict[str, Any]]) -> None:
    total, distinct, per_request = row_counts(url)
    assert total == distinct == len(answers) * len(PROVIDERS)
    assert per_request == {a["request_id"]: len(PROVIDERS) for a in answers}
    assert duplicated_calls(url) == 0


async def test_postgres_stopped_mid_load_then_started(
    postgres_url: str, simulator: Simulator, tmp_path: Path
) -> None:
    upgrade_to_head(postgres_url)
    server = make_url(postgres_url)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    proxy.start()
    proxied = server.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    settings = make_settings(
        proxied,
        demo_upstream_url=simulator.url,
        db_auto_migrate=False,
        log_durability="strict",
        log_spool_dir=tmp_path / "spool",
    )
    app = create_app(settings, registry=demo_registry())
    try:
        answers = await run_outage(app, proxy.cut, proxy.restore)
    finally:
        proxy.cut()
    stats = writer_of(app).stats()
    # Cut sessions fail, or hang past the commit bound until the relay is back: both spool.
    assert stats.failed_batches + stats.slow_batches > 0
    assert_rows_equal_calls(postgres_url, answers)


@pytest.mark.parametrize("mode", ["strict", "fast"])
async def test_sqlite_locked_mid_load_then_released(
    sqlite_url: str, simulator: Simulator, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(
        sqlite_url,
        demo_upstream_url=simulator.url,
        log_durability=mode,
        log_spool_dir=tmp_path / "spool",
    )
    app = create_app(settings, registry=demo_registry())
    database = make_url(sqlite_url).database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)

    def lock() -> None:
        holder.execute("BEGIN EXCLUSIVE")

    def unlock() -> None:
        holder.execute("ROLLBACK")

    try:
        answers = await run_outage(app, lock, unlock)
    finally:
        holder.close()
    assert writer_of(app).stats().slow_batches > 0
    assert_rows_equal_calls(sqlite_url, answers)


async def test_spool_cap_reached_raises_the_alarm_and_fails_readyz(
    sqlite_url: str, simulator: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        sqlite_url,  # not migrated: every insert fails, rows go to the spool
        demo_upstream_url=simulator.url,
        db_auto_migrate=False,
        log_durability="fast",
        log_spool_dir=tmp_path / "spool",
        log_spool_max_bytes=8000,
    )
    app = create_app(settings, registry=demo_registry())
    async for client in api_client(app):
        writer = writer_of(app)
        answers = await load(client, 10)  # fast mode: answers go out at once
        await wait_for_stats(writer, lambda stats: stats.alarm)
        health = writer.health()
        assert not health.healthy and "spool cannot take rows" in health.reasons[0]
        assert "call log ALARM" in caplog.text
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "spool" in ready.text
        # The database comes back: the spool and the held rows drain, the alarm clears.
        await asyncio.to_thread(upgrade_to_head, sqlite_url)
        await wait_for_stats(
            writer,
            lambda stats: not stats.alarm and stats.queued == 0 and stats.spool_rows == 0,
        )
        assert writer.health().healthy
        assert (await client.get("/readyz")).status_code == 200
    assert writer.stats().dropped == 0
    assert_rows_equal_calls(sqlite_url, answers)
