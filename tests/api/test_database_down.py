"""With the database out, the read routes answer 503 with Retry-After; fetching keeps working.

PostgreSQL goes out for this app only: it reaches the server through a TCP relay the test cuts
(`TcpProxy`, as in tests/calllog/test_outages.py). SQLite: a database path that cannot be
opened (a directory).
"""

from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.migrate import upgrade_to_head
from app.main import create_app
from app.simulator import Simulator
from tests.calllog.helpers import TcpProxy
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry

# Trust authentication ignores it, so it may be anything; it must never show.
PASSWORD = "pw-Kd93hQ0zLx"
READS = ["/integrations/logs", "/integrations/stats", "/integrations/requests/r1"]


async def assert_reads_unavailable(client: httpx.AsyncClient) -> None:
    for path in READS:
        response = await client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"].startswith("database unavailable")
        assert PASSWORD not in response.text


async def assert_fetch_works(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"providers": "weather,geocoding"})
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["succeeded"] == 2


async def test_postgres_out_reads_answer_503_then_recover(
    postgres_url: str, simulator: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade_to_head(postgres_url)
    server = make_url(postgres_url)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    proxy.start()
    proxied = server.set(host="127.0.0.1", port=proxy.port, password=PASSWORD)
    settings = make_settings(
        proxied.render_as_string(hide_password=False),
        demo_upstream_url=simulator.url,
        db_auto_migrate=False,
        log_spool_dir=tmp_path / "spool",
    )
    try:
        async for client in api_client(create_app(settings, registry=demo_registry())):
            assert (await client.get("/integrations/logs")).status_code == 200
            proxy.cut()
            await assert_reads_unavailable(client)
            await assert_fetch_works(client)
            proxy.restore()
            # The pool's pre-ping replaces the connections the outage killed.
            assert (await client.get("/integrations/logs")).status_code == 200
    finally:
        proxy.cut()
    logged = [r.getMessage() for r in caplog.records if r.name == "app.api.errors"]
    assert logged and all("database unavailable for GET" in line for line in logged)
    assert PASSWORD not in caplog.text


async def test_sqlite_that_cannot_be_opened_answers_503(
    simulator: Simulator, tmp_path: Path
) -> None:
    unopenable = tmp_path / "calls.db"
    unopenable.mkdir()  # a directory: sqlite cannot open it, even as root
    settings = make_settings(
        f"sqlite:///{unopenable}",
        demo_upstream_url=simulator.url,
        db_auto_migrate=False,
        log_spool_dir=tmp_path / "spool",
    )
    async for client in api_client(create_app(settings, registry=demo_registry())):
        await assert_reads_unavailable(client)
        await assert_fetch_works(client)
