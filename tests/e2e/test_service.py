"""End to end: the real service process, real sockets, a real upstream, a real database."""

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import answers_health, child_env
from tests.support.providers import DEMO_NAMES, demo_registry
from tests.support.servers import ScriptedServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def silent_upstream() -> AsyncIterator[str]:
    """Takes every request and never answers: the worst upstream there is."""
    async with ScriptedServer(lambda seen: None) as server:
        yield server.url


async def test_a_silent_upstream_ends_at_the_deadline(
    sqlite_url: str, silent_upstream: str
) -> None:
    app = create_app(
        make_settings(sqlite_url, demo_upstream_url=silent_upstream), registry=demo_registry()
    )
    async for client in api_client(app):
        started = time.perf_counter()
        response = await client.get("/integrations/fetch", params={"timeout_ms": 300})
        elapsed_ms = (time.perf_counter() - started) * 1000
    body = response.json()
    assert response.status_code == 200
    assert {r["error_kind"] for r in body["results"]} == {"timeout"}
    assert elapsed_ms < 300 + 200


async def test_slow_providers_time_out_while_fast_ones_succeed(sqlite_url: str) -> None:
    # Scale 10 makes the simulated latencies 50 ms .. over a second.
    async with Simulator(latency_scale=10, error_rate=0, drift_rate=0, seed=1) as sim:
        app = create_app(
            make_settings(sqlite_url, demo_upstream_url=sim.url), registry=demo_registry()
        )
        async for client in api_client(app):
            body = (await client.get("/integrations/fetch", params={"timeout_ms": 400})).json()
    kinds = {r["error_kind"] for r in body["results"]}
    assert None in kinds and "timeout" in kinds
    assert body["summary"]["duration_ms"] < 400 + 200


def test_serve_command_runs_migrations_serves_and_logs(tmp_path: Path) -> None:
    """The README's first command, minus the install step."""
    port = free_port()
    database = tmp_path / "fresh.db"
    env = child_env(
        DATABASE_URL=f"sqlite:///{database}",
        SIMULATOR_ERROR_RATE="0",
        SIMULATOR_LATENCY_SCALE="0.1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            return answers_health(base)

        wait_until(up, timeout_s=30, what="the service coming up")
        # The demo providers by name: the process serves whatever the package holds.
        demo = {"providers": ",".join(DEMO_NAMES)}
        body = httpx.get(f"{base}/integrations/fetch", params=demo, timeout=10).json()
        assert body["summary"]["total"] == 20
        assert body["summary"]["succeeded"] >= 19  # the drifting API may fail validation
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    # uvicorn re-raises the signal once shutdown is complete.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    # One JSON object a line, uvicorn's own lines included, with no terminal colour codes.
    lines = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    assert {"uvicorn.error", "alembic.runtime.migration", "app.access"} <= {
        line["logger"] for line in lines
    }
    assert "\x1b" not in output
    # Each migration ran once, by the command, not again in the worker's lifespan.
    migrations = len(list((ROOT / "migrations" / "versions").glob("0*.py")))
    assert output.count("Running upgrade") == migrations
    # Shutdown flushed the call log.
    with sqlite3.connect(database) as conn:
        count, requests = conn.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM external_api_logs"
        ).fetchone()
    assert (count, requests) == (20, 1)
