"""The shared client (`create_http_client`) on its aiohttp transport, against a real server.

The server below (`misbehave`, on a `ScriptedServer`) misbehaves on purpose, by path:
`/echo` answers the request target and headers as JSON, `/reset` (`/reset-big`) promises
100 bytes (1 MiB) and closes after 10, `/hang` never answers, `/big` sends a 16 MiB body,
`/status/<n>` answers n (with a `Retry-After`), `/gzip` a gzipped JSON object, `/html` an HTML
page, `/chunked` a chunked JSON array of about 10 KB.
The server counts connections, so keep-alive is checked from the server's side.
"""

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.http.aiohttp_transport import AiohttpTransport
from app.integrations.base import BaseApiProvider, Params
from app.resilience.runner import PolicyRunner
from tests.support.ports import free_port
from tests.support.servers import Raw, ScriptedServer, Seen


def misbehave(seen: Seen) -> Raw | None:
    """What the server below answers, by path (see the module's docstring)."""
    path = seen.path
    if path in ("/reset", "/reset-big"):
        # Promises 100 bytes (read at once) or 1 MiB (streamed), sends 10, closes.
        size = 100 if path == "/reset" else 1024 * 1024
        return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n0123456789" % size, close=True)
    if path == "/hang":
        return None
    if path == "/big":
        size = 16 * 1024 * 1024
        return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
    if path == "/gzip":
        body = gzip.compress(json.dumps({"zipped": True}).encode())
        return Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    if path == "/html":
        body = b"<html>busy</html>"
        return Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    if path == "/chunked":
        # No Content-Length: counted chunk by chunk against the cap.
        chunk = b"[" + b"1," * 5000 + b"1]"
        return Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        )
    if path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        body = b'{"status": %d}' % status
        return Raw(
            b"HTTP/1.1 %d Whatever\r\nRetry-After: 7\r\nContent-Length: %d\r\n\r\n%s"
            % (status, len(body), body)
        )
    # The headers as sent, names in their own case.
    lines = seen.head.decode("latin-1").split("\r\n")[1:]
    headers = dict(line.split(": ", 1) for line in lines)
    body = json.dumps({"target": seen.target, "headers": headers}).encode()
    return Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Set-Cookie: session=secret; Path=/\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(misbehave) as srv:
        yield srv


def _settings(**overrides: Any) -> Settings:
    return Settings(demo_upstream_url=None, **overrides)


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with create_http_client(_settings(http_read_timeout_s=0.3)) as c:
        yield c


async def test_the_default_client_is_an_httpx_client_on_our_transport() -> None:
    client = create_http_client(_settings())
    assert isinstance(client, httpx.AsyncClient)
    assert isinstance(client._transport, AiohttpTransport)
    await client.aclose()


async def test_success(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{server.url}/echo/x", params={"city": "Seoul"})
    assert response.status_code == 200
    assert response.is_success
    assert response.reason_phrase == "OK"
    assert response.headers["content-type"] == "application/json"
    seen = BaseApiProvider.parse_json_object(response)
    assert seen["target"] == "/echo/x?city=Seoul"
    assert seen["headers"]["User-Agent"] == "api-fanout/0.1"


async def test_connection_refused_is_a_connect_error(client: httpx.AsyncClient) -> None:
    # Nothing listens on the port.
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{free_port()}/x")


@pytest.mark.parametrize("path", ["/reset", "/reset-big"])
async def test_reset_mid_body_is_a_protocol_error_not_a_timeout(
    server: ScriptedServer, client: httpx.AsyncClient, path: str
) -> None:
    with pytest.raises(httpx.TransportError) as caught:
        await client.get(f"{server.url}{path}")
    assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)
    assert not isinstance(caught.value, httpx.TimeoutException)


async def test_no_answer_is_a_read_timeout(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await client.get(f"{server.url}/hang")


async def test_unsupported_scheme_is_an_httpx_error(client: httpx.AsyncClient) -> None:
    transport = AiohttpTransport()
    try:
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    finally:
        await transport.aclose()


async def test_sequential_calls_reuse_one_connection(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    for i in range(50):
        response = await client.get(f"{server.url}/echo/{i}")
        assert response.status_code == 200
    assert server.connections == 1


async def test_concurrent_fan_outs_reuse_connections(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    urls = [f"{server.url}/echo/p{i}" for i in range(20)]
    for _ in range(10):
        responses = await asyncio.gather(*(client.get(url) for url in urls))
        assert [r.status_code for r in responses] == [200] * 20
    assert server.connections <= 20


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "a b"}, "q=a+b"),
        ({"symbols": "EUR,KRW"}, "symbols=EUR%2CKRW"),
        ({"city": "서울"}, "city=%EC%84%9C%EC%9A%B8"),
        ({"q": "a&b=c"}, "q=a%26b%3Dc"),
        ({"path": "a/b"}, "path=a%2Fb"),
        ({"n": 1, "flag": True}, "n=1&flag=true"),
    ],
)
async def test_query_params_reach_the_server_encoded(
    server: ScriptedServer,
    client: httpx.AsyncClient,
    params: dict[str, Any],
    expected: str,
) -> None:
    for _ in range(2):  # the second call takes the cached URL
        response = await client.get(f"{server.url}/echo", params=params)
        assert response.json()["target"] == f"/echo?{expected}"


async def test_cached_urls_keep_params_apart(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    targets = []
    for params in ({"v": 1}, {"v": True}, {"v": 1.0}, {"v": "1"}, {"v": 1}, None):
        response = await client.get(f"{server.url}/echo", params=params)
        targets.append(response.json()["target"])
    assert targets == [
        "/echo?v=1",
        "/echo?v=true",
        "/echo?v=1.0",
        "/echo?v=1",
        "/echo?v=1",
        "/echo",
    ]


async def test_cookies_set_by_an_upstream_are_not_sent_again(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    first = await client.get(f"{server.url}/echo")
    assert first.headers["set-cookie"].startswith("session=")
    second = await client.get(f"{server.url}/echo")
    assert "Cookie" not in second.json()["headers"]
    assert not client.cookies


async def test_closing_an_unread_body_drops_the_connection(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    async with client.stream("GET", f"{server.url}/big") as response:
        assert response.headers["content-length"] == str(16 * 1024 * 1024)
        async for chunk in response.aiter_raw():
            assert chunk
            break
    await asyncio.wait_for(server.closed.wait(), timeout=5)
    assert not server.open


class _SkippingClock:
    """Real time, except that a policy's wait (a retry's backoff or `Retry-After`) passes at
    once: it is recorded and moves this clock on by as much, so no test sleeps it out."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.skipped)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += max(seconds, 0.0)
        await asyncio.sleep(0)


class _EchoProvider(BaseApiProvider):
    name = "echo"

    def __init__(self, settings: Settings, base: str, path: str) -> None:
        super().__init__(settings)
        self.base = base
        self.path = path

    @property
    def endpoint(self) -> str:
        return self.base + self.path

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        response = await client.get(self.endpoint, params=dict(params))
        return self.parse_json_object(response)


@pytest.mark.parametrize(
    ("path", "kind", "status"),
    [
        ("/echo", None, 200),
        ("/status/404", ErrorKind.HTTP_STATUS, 404),
        ("/status/503", ErrorKind.HTTP_STATUS, 503),
        # A small body is read inside the transport: it fails before the response hooks.
        ("/reset", ErrorKind.CONNECTION_ERROR, None),
        # A big one is streamed: the hooks saw the status before the body broke.
        ("/reset-big", ErrorKind.CONNECTION_ERROR, 200),
        ("/hang", ErrorKind.TIMEOUT, None),
    ],
)
async def test_event_hooks_still_record_status_and_attempts(
    server: ScriptedServer,
    client: HttpClient,
    path: str,
    kind: ErrorKind | None,
    status: int | None,
) -> None:
    provider = _EchoProvider(_settings(), server.url, path)
    clock = _SkippingClock()
    provider.runner = PolicyRunner(provider.name, provider.policy, provider.method, clock=clock)
    result = await provider.execute(client, {"a": "b"}, request_id="r1")
    assert result.error_kind == kind
    assert result.success is (kind is None)
    assert result.status_code == status
    # The request hook counts every attempt (resilience policies may retry failures).
    assert result.attempts == server.requests[path] >= 1
    if kind is None:
        assert result.attempts == 1
    if path == "/status/503":
        assert clock.sleeps == [7.0, 7.0]  # Retry-After honoured, in no real time


async def test_any_transport_can_be_passed_in() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"url": str(request.url)})

    async with create_http_client(_settings(), httpx.MockTransport(answer)) as client:
        assert isinstance(client, HttpClient)
        response = await client.get("http://upstream.test/x", params={"k": "v w"})
        assert response.status_code == 201
        assert response.json() == {"url": "http://upstream.test/x?k=v+w"}
