"""An app driven in-process from a chosen client address, with configurable keys."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.main import create_app
from app.security.api_keys import ApiKeyEntry, generate_key, hash_key
from tests.conftest import make_settings
from tests.support.providers import demo_registry

REMOTE = ("203.0.113.7", 40000)
LOOPBACK = ("127.0.0.1", 40000)


def new_key(name: str, providers: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    key = generate_key()
    return key, ApiKeyEntry(name=name, sha256=hash_key(key), providers=providers).model_dump()


@asynccontextmanager
async def serve(app: FastAPI, client: tuple[str, int] = REMOTE) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client), base_url="http://testserver"
        ) as http,
    ):
        yield http


AppFactory = Callable[..., FastAPI]


def app_factory(database_url: str, upstream_url: str) -> AppFactory:
    def build(**overrides: Any) -> FastAPI:
        return create_app(
            make_settings(database_url, demo_upstream_url=upstream_url, **overrides),
            registry=demo_registry(),
        )

    return build
