"""An app on a seeded database, driven in-process, with no upstream calls made."""

from collections.abc import AsyncIterator

import httpx

from app.main import create_app
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


async def read_client(database_url: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    # The demo upstream URL only has to be set so no simulator starts; nothing calls it.
    settings = make_settings(database_url, demo_upstream_url="http://127.0.0.1:9", **overrides)
    async for client in api_client(create_app(settings, registry=demo_registry())):
        yield client
