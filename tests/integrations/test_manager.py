"""The manager: concurrency, stable order, isolation, and the request deadline."""

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import create_http_client
from app.integrations.base import BaseApiProvider, Params
from app.integrations.manager import ApiIntegrationManager, UnknownProviderError
from app.integrations.schemas import ExternalResponse
from tests.support.polling import poll

SETTINGS = Settings(_env_file=None)


class Behaviour(BaseApiProvider):
    """Calls `https://up.test/<name>`; what happens is up to the test's transport."""

    name = "behaviour"

    @property
    def endpoint(self) -> str:
        return f"https://up.test/{self.name}"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        return self.parse_json_object(await client.get(self.endpoint))


def provider(name: str) -> BaseApiProvider:
    cls = type(f"P_{name}", (Behaviour,), {"name": name})
    instance: BaseApiProvider = cls(SETTINGS)
    return instance


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[str, Sequence[ExternalResponse]]] = []

    async def record(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        self.batches.append((request_id, results))


class Upstream:
    """An in-memory upstream that tracks how many calls are in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()
        self.never = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.strip("/")
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if name.startswith("hang"):
                await self.never.wait()
            if name.startswith("gate"):
                await self.release.wait()
            if name.startswith("boom"):
                raise httpx.ConnectError("refused")
            if name.startswith("garbage"):
                return httpx.Response(200, content=b"\x00not json")
            return httpx.Response(200, json={"name": name})
        finally:
            self.in_flight -= 1


async def fan_out(
    provider_names: list[str], upstream: Upstream, recorder: Recorder | None = None, **kwargs: Any
) -> Any:
    manager = ApiIntegrationManager(
        [provider(n) for n in provider_names],
        recorder,
        default_timeout_ms=kwargs.pop("default", 2000),
    )
    transport = httpx.MockTransport(upstream)
    async with create_http_client(SETTINGS, transport=transport) as client:
        return await manager.fetch_all(client, {}, **kwargs)


async def test_all_providers_run_at_once() -> None:
    upstream = Upstream()
    names = [f"gate{i}" for i in range(10)]
    task = asyncio.create_task(fan_out(names, upstream))
    await poll(lambda: upstream.in_flight == 10, what="all ten waiting upstream together")
    upstream.release.set()
    response = await task
    assert upstream.peak == 10
    assert response.summary.succeeded == 10


async def test_one_failure_hang_or_garbage_leaves_the_others_alone() -> None:
    upstream = Upstream()
    names = ["ok1", "boom", "ok2", "hang", "garbage", "ok3"]
    response = await fan_out(names, upstream, timeout_ms=100)
    by_name = {r.provider: r for r in response.results}
    assert [r.provider for r in response.results] == names  # stable order
    assert all(by_name[n].success for n in ("ok1", "ok2", "ok3"))
    assert by_name["boom"].error_kind is ErrorKind.CONNECTION_ERROR
    assert by_name["garbage"].error_kind is ErrorKind.INVALID_JSON
    assert by_name["hang"].error_kind is ErrorKind.TIMEOUT
    assert "100 ms" in by_name["hang"].error_message
    assert (response.summary.total, response.summary.succeeded, response.summary.failed) == (
        6,
        3,
        3,
    )


async def test_deadline_cancels_the_hung_call_and_leaks_no_task() -> None:
    upstream = Upstream()
    before = len(asyncio.all_tasks())
    response = await fan_out(["hang", "ok"], upstream, timeout_ms=50)
    assert upstream.in_flight == 0  # the hung call was cancelled, not abandoned
    assert len(asyncio.all_tasks()) == before
    assert response.results[0].error_kind is ErrorKind.TIMEOUT
    assert response.results[1].success


async def test_request_may_lower_but_not_raise_the_deadline() -> None:
    manager = ApiIntegrationManager([], None, default_timeout_ms=1000)
    assert manager.deadline_ms(None) == 1000
    assert manager.deadline_ms(200) == 200
    assert manager.deadline_ms(60_000) == 1000


async def test_subset_in_the_callers_order_and_every_call_logged_once() -> None:
    recorder = Recorder()
    response = await fan_out(
        ["a", "b", "c"], Upstream(), recorder, names=["c", "a"], request_id="req-1"
    )
    assert [r.provider for r in response.results] == ["c", "a"]
    assert response.request_id == "req-1"
    assert len(recorder.batches) == 1
    request_id, logged = recorder.batches[0]
    assert request_id == "req-1"
    assert [r.provider for r in logged] == ["c", "a"]


def test_resolve_dedupes_and_refuses_unknown_names_listing_valid_ones() -> None:
    manager = ApiIntegrationManager([provider("a"), provider("b")], None, default_timeout_ms=1)
    assert manager.resolve(["b", "a", "b"]) == ["b", "a"]
    assert manager.resolve([]) is None
    with pytest.raises(UnknownProviderError, match=r"'x', 'y'.*valid names: a, b"):
        manager.resolve(["a", "x", "y"])


async def test_client_disconnect_cancels_every_call() -> None:
    upstream = Upstream()
    task = asyncio.create_task(fan_out(["hang1", "hang2"], upstream, timeout_ms=5000))
    # Both calls are in flight before the client goes: cancelling must end each of them.
    await poll(lambda: upstream.in_flight == 2, what="both calls in flight")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.in_flight == 0
