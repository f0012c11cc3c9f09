"""The app on SQLite with the demo providers pointed at the real simulator."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


@pytest.fixture
async def client(sqlite_url: str, simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        make_settings(sqlite_url, demo_upstream_url=simulator.url), registry=demo_registry()
    )
    async for c in api_client(app):
        yield c
