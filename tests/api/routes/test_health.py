"""`/healthz` and `/readyz`: which part failed is named."""

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from app.api.routes.health import _check_call_log
from app.calllog.status import WriterHealth
from app.core.db import create_db_engine
from app.main import create_app
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


@pytest.fixture
async def app_and_client(database_url: str) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    app = create_app(
        make_settings(database_url, demo_upstream_url="http://127.0.0.1:9"),
        registry=demo_registry(),
    )
    async for client in api_client(app):
        yield app, client


async def test_ready_when_database_and_log_path_are_fine(
    app_and_client: tuple[object, httpx.AsyncClient],
) -> None:
    _, client = app_and_client
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checks"]["database"] == {"ok": True, "detail": "reachable"}
    assert body["checks"]["call_log"]["ok"] is True


async def test_unreachable_database_is_named(
    app_and_client: tuple[object, httpx.AsyncClient],
) -> None:
    app, client = app_and_client
    # Nothing listens on port 1: a real connection failure, with a password in the URL.
    engine = create_db_engine(
        "postgresql+psycopg://user:s3cret@127.0.0.1:1/nope", connect_args={"connect_timeout": 2}
    )
    app.state.session_factory = sessionmaker(engine)  # type: ignore[attr-defined]
    try:
        response = await client.get("/readyz")
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["detail"].startswith("unreachable (OperationalError")
    assert body["checks"]["call_log"]["ok"] is True
    assert "s3cret" not in response.text
    # Liveness does not depend on the database.
    assert (await client.get("/healthz")).status_code == 200


def test_call_log_reasons_are_reported() -> None:
    writer = SimpleNamespace(
        health=lambda: WriterHealth(False, ("spool full", "database unavailable"))
    )
    result = _check_call_log(writer)
    assert result.ok is False
    assert result.detail == "spool full; database unavailable"


def test_writer_without_health_falls_back_to_its_counters() -> None:
    stats = SimpleNamespace(queued=3, dropped=0)
    assert _check_call_log(SimpleNamespace(stats=lambda: stats)).ok is True
    stats.dropped = 7
    result = _check_call_log(SimpleNamespace(stats=lambda: stats))
    assert (result.ok, result.detail) == (False, "7 rows dropped")
