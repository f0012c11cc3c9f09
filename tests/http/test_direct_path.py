"""`get_json` on the shared client's direct path answers exactly as through httpx.

The direct path (`HttpClient.fetch_json` on our `ConnectionPool`) skips httpx's request and
response objects. Every case runs twice against the same real server: once on the shared
client, once on an `HttpClient` built without a pool, which always takes httpx's path, and the
results must match.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.http.aiohttp_transport import AiohttpTransport
from app.http.pool import ConnectionPool
from app.integrations.base import BaseApiProvider, Params
from app.integrations.schemas import ExternalResponse
from tests.http.test_client import _settings, server
from tests.support.servers import ScriptedServer

__all__ = ["server"]


class _JsonProvider(BaseApiProvider):
    name = "json"
    policy_overrides = {"retries": 0, "max_response_bytes": 4096}

    def __init__(self, base: str, path: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(_settings(http_read_timeout_s=0.3))
        self.url = base + path
        self.headers = headers

    @property
    def endpoint(self) -> str:
        return self.url

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.url, params=params, headers=self.headers)


@pytest.fixture
async def clients() -> AsyncIterator[tuple[HttpClient, HttpClient]]:
    direct = create_http_client(_settings(http_read_timeout_s=0.3))
    assert isinstance(direct, HttpClient) and direct.has_direct_path
    # Same transport and hooks; without a pool, `fetch_json` goes through `send`.
    via_httpx = HttpClient(
        transport=AiohttpTransport(),
        timeout=direct.timeout,
        event_hooks=direct.event_hooks,
        headers=direct.headers,
    )
    async with direct, via_httpx:
        yield direct, via_httpx


def _comparable(result: ExternalResponse) -> dict[str, Any]:
    # `retry_at` is "now + Retry-After": only whether it is there can match.
    dumped = result.model_dump(exclude={"response_time_ms", "started_at"})
    dumped["retry_at"] = dumped["retry_at"] is not None
    if result.error_kind is ErrorKind.CONNECTION_ERROR:
        # The direct path is our own client, httpx's path aiohttp: each words a broken
        # connection its own way (both name the httpx exception first).
        dumped["error_message"] = dumped["error_message"].split(":", 1)[0]
    return dumped


@pytest.mark.parametrize(
    ("path", "kind", "status"),
    [
        ("/echo", None, 200),
        ("/gzip", None, 200),
        ("/status/404", ErrorKind.HTTP_STATUS, 404),
        ("/status/429", ErrorKind.HTTP_STATUS, 429),
        ("/html", ErrorKind.INVALID_JSON, 200),
        ("/big", ErrorKind.RESPONSE_TOO_LARGE, 200),
        ("/chunked", ErrorKind.RESPONSE_TOO_LARGE, 200),
        ("/reset", ErrorKind.CONNECTION_ERROR, None),
        ("/hang", ErrorKind.TIMEOUT, None),
    ],
)
async def test_both_paths_give_the_same_result(
    server: ScriptedServer,
    clients: tuple[HttpClient, HttpClient],
    path: str,
    kind: ErrorKind | None,
    status: int | None,
) -> None:
    provider = _JsonProvider(server.url, path)
    direct, via_httpx = clients
    results = [
        await provider.execute(client, {"q": "a b&c"}, request_id="req-1")
        for client in (direct, via_httpx)
    ]
    assert results[0].error_kind == kind
    assert results[0].status_code == status
    assert results[0].attempts == 1
    assert (results[0].retry_at is not None) is (status == 429)  # Retry-After was read
    assert _comparable(results[0]) == _comparable(results[1])
    if kind is ErrorKind.CONNECTION_ERROR:
        assert results[0].error_message == (
            "RemoteProtocolError: server disconnected after 10 of 100 body bytes"
        )
    assert server.requests[path] == 2


async def test_both_paths_send_the_same_request(
    server: ScriptedServer, clients: tuple[HttpClient, HttpClient]
) -> None:
    # A provider header overrides the client's own of the same name, whatever its case.
    # The call's own id replaces one the provider set, as the hook does.
    provider = _JsonProvider(
        server.url,
        "/echo",
        headers={"user-agent": "mine", "X-Tenant": "t1", "x-request-id": "provider's"},
    )
    seen = []
    for client in clients:
        result = await provider.execute(client, {"city": "Seoul", "n": 3}, request_id="req-2")
        assert result.success, result.error_message
        assert result.data is not None
        seen.append(result.data)
    direct, via_httpx = seen
    assert direct["target"] == via_httpx["target"] == "/echo?city=Seoul&n=3"
    for data in seen:
        assert [k.lower() for k in data["headers"]].count("x-request-id") == 1
    lowered = [{k.lower(): v for k, v in data["headers"].items()} for data in seen]
    assert lowered[0] == lowered[1]
    assert lowered[0]["user-agent"] == "mine"
    assert lowered[0]["x-request-id"] == "req-2"
    assert lowered[0]["x-tenant"] == "t1"


async def test_the_direct_path_is_off_for_any_other_transport_or_hooks() -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with create_http_client(_settings(), mock) as client:
        assert isinstance(client, HttpClient) and not client.has_direct_path
    async with HttpClient(transport=AiohttpTransport()) as client:  # no pool
        assert not client.has_direct_path
    pool = ConnectionPool()
    hooks: dict[str, list[Any]] = {"request": [], "response": []}
    async with HttpClient(transport=AiohttpTransport(), pool=pool, event_hooks=hooks) as client:
        assert not client.has_direct_path  # hooks of its own: they must run


async def test_client_params_set_later_turn_the_direct_path_off_and_on() -> None:
    # The direct path sends no client-level params, so setting some must leave it.
    async with create_http_client(_settings()) as client:
        assert isinstance(client, HttpClient) and client.has_direct_path
        client.params = {"tenant": "t1"}
        assert not client.has_direct_path
        assert client.params == httpx.QueryParams({"tenant": "t1"})
        client.params = {}
        assert client.has_direct_path


async def test_client_headers_changed_after_a_call_are_sent(
    server: ScriptedServer, clients: tuple[HttpClient, HttpClient]
) -> None:
    # The direct path caches merged headers: a change to the client's own must still show.
    direct, _ = clients
    provider = _JsonProvider(server.url, "/echo", headers={"X-Tenant": "t1"})
    await provider.execute(direct, {}, request_id="req-3")
    direct.headers["X-Team"] = "blue"
    result = await provider.execute(direct, {}, request_id="req-4")
    assert result.data is not None
    seen = {k.lower(): v for k, v in result.data["headers"].items()}
    assert seen["x-team"] == "blue"
    assert seen["x-request-id"] == "req-4"
    assert seen["x-tenant"] == "t1"


@pytest.mark.parametrize(
    ("path", "params", "target"),
    [
        ("/echo?key=1", {"city": "São Paulo", "n": 3}, "/echo?city=S%C3%A3o+Paulo&n=3"),
        ("/echo?key=1", {}, "/echo"),  # httpx: request params replace the URL's query
        ("/echo?", {"flag": True, "x": 1.5}, "/echo?flag=true&x=1.5"),
    ],
)
async def test_params_that_differ_per_call_build_what_httpx_builds(
    server: ScriptedServer,
    clients: tuple[HttpClient, HttpClient],
    path: str,
    params: dict[str, Any],
    target: str,
) -> None:
    provider = _JsonProvider(server.url, path)
    seen = []
    for client in clients:
        for call in range(2):  # the second one from the client's caches
            result = await provider.execute(client, params, request_id=f"req-{call}")
            assert result.success, result.error_message
            assert result.data is not None
            seen.append(result.data["target"])
    assert seen == [target] * 4
