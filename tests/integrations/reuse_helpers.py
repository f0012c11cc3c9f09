"""A provider and clients for the cache, coalescing and hedging tests, on a real local server."""

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from pydantic import BaseModel

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.integrations.base import BaseApiProvider, Params
from app.resilience.clock import Clock
from app.resilience.response_cache import CacheStore, MemoryStore
from app.resilience.runner import PolicyRunner
from tests.support.clock import FakeClock


class Reading(BaseModel):
    value: int


class Sensor(BaseApiProvider):
    """GET {base}/reading?room=..., the room being its one parameter."""

    name = "sensor"
    response_model = Reading
    params_doc = {"room": "which room"}
    base: ClassVar[str] = ""

    @property
    def endpoint(self) -> str:
        return f"{self.base}/reading"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.endpoint, params={"room": params.get("room", "a")})


class PostSensor(Sensor):
    name = "post_sensor"
    method = "POST"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return self.parse_json_object(await client.post(self.endpoint, json={"room": "a"}))


def sensor(
    base: str,
    *,
    clock: Clock | None = None,
    store: CacheStore | None = None,
    cls: type[Sensor] = Sensor,
    **policy: Any,
) -> tuple[Sensor, Clock]:
    """A provider calling `base`, its policies and cache on `clock` (a FakeClock by default)."""
    clock = clock or FakeClock()
    settings = Settings(_env_file=None, provider_policies={cls.name: policy})
    provider = type(cls.__name__, (cls,), {"base": base})(settings)
    provider.runner = PolicyRunner(
        provider.name, provider.policy, provider.method, clock=clock, rng=random.Random(7)
    )
    provider.attach_cache(store if store is not None else MemoryStore(1 << 20), clock)
    return provider, clock


@asynccontextmanager
async def real_client() -> AsyncIterator[HttpClient]:
    """The production client: its own connection pool, no mock transport."""
    async with create_http_client(Settings(_env_file=None)) as client:
        yield client
