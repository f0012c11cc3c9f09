"""What real upstreams send that a textbook one does not, on both paths of `fetch_json`.

Each test scripts the exact bytes a local server writes for one path (in one write, unless
said otherwise) and runs the same provider call on the shared client's direct path and on
httpx's path (`HttpClient` without a pool, over `AiohttpTransport`).
"""

import gzip
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.http.aiohttp_transport import AiohttpTransport
from app.integrations.base import BaseApiProvider, Params
from app.integrations.schemas import ExternalResponse
from app.resilience.breaker import BreakerState
from app.resilience.deadline import Deadline
from tests.support.polling import poll
from tests.support.servers import Raw, ScriptedServer, Seen

JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


class RawServer(ScriptedServer):
    """Answers `GET <path>` with the bytes scripted for the path (a callable gets how many
    times the path was asked); never closes on its own."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(self._answer, tls)
        self.answers: dict[str, Any] = {}

    def _answer(self, seen: Seen) -> Raw:
        answer = self.answers[seen.path]
        return Raw(answer(self.requests[seen.path]) if callable(answer) else answer)

    async def wait_all_closed(self) -> None:
        """The client dropped every connection it had (polled, bounded)."""
        await poll(lambda: not self.open, timeout_s=1.0, what="every connection closed")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"demo_upstream_url": None, "http_read_timeout_s": 1.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


class RawProvider(BaseApiProvider):
    name = "raw"

    def __init__(self, url: str, **policy: Any) -> None:
        policy = {"retries": 0, "max_response_bytes": 4096, **policy}
        super().__init__(settings(provider_policies={self.name: policy}))
        self.url = url

    @property
    def endpoint(self) -> str:
        return self.url

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.url)


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    async with RawServer() as srv:
        yield srv


PATHS = ["direct", "httpx"]


def make_client(path: str) -> HttpClient:
    """The shared client (its direct path), or one with the same settings and no pool, whose
    `fetch_json` goes through httpx's `send`."""
    shared = create_http_client(settings())
    assert shared.has_direct_path
    if path == "direct":
        return shared
    return HttpClient(transport=AiohttpTransport(), timeout=shared.timeout, headers=shared.headers)


@pytest.fixture(params=PATHS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[HttpClient]:
    async with make_client(request.param) as built:
        yield built


async def call(
    server: RawServer, client: HttpClient, path: str, answer: Any, **policy: Any
) -> ExternalResponse:
    server.answers[path] = answer
    return await RawProvider(server.url + path, **policy).execute(client, {}, request_id="r")


def chunked(body: bytes, trailer: bytes = b"") -> bytes:
    return b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailer)


# --- 1. status and type are judged at the head ---------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind", "status"),
    [
        (
            b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 1000\r\n\r\n<",
            ErrorKind.HTTP_STATUS,
            503,
        ),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 1000\r\n\r\n", ErrorKind.HTTP_STATUS, 404),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<html>",
            ErrorKind.INVALID_JSON,
            200,
        ),
    ],
    ids=["503", "404", "html"],
)
async def test_a_refused_head_is_answered_at_once_and_its_connection_dropped(
    server: RawServer, client: HttpClient, head: bytes, kind: ErrorKind | None, status: int
) -> None:
    # The body never ends: waiting for it would be a timeout, and lose status and Retry-After.
    result = await call(server, client, "/stuck", head, read_timeout_s=2)
    assert (result.error_kind, result.status_code) == (kind, status)
    assert (result.retry_at is not None) is (status == 503)  # its Retry-After was read
    await server.wait_all_closed()  # the unread body is not left on a pooled connection
    ok = await call(server, client, "/ok", JSON_HEAD + b"Content-Length: 2\r\n\r\n{}")
    assert ok.success
    assert server.connections == 2


async def test_a_refused_answer_read_whole_keeps_its_connection(
    server: RawServer, client: HttpClient
) -> None:
    body = b"<html>not here</html>"
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    for _ in range(3):
        result = await call(server, client, "/gone", answer)
        assert (result.error_kind, result.status_code) == (ErrorKind.HTTP_STATUS, 404)
    assert server.connections == 1


# --- 2. a Retry-After too large for a date ---------------------------------------------------


async def test_a_huge_retry_after_is_rate_limited_and_counted(
    server: RawServer, client: HttpClient
) -> None:
    answer = b"HTTP/1.1 503 Busy\r\nRetry-After: 1000000000000\r\nContent-Length: 0\r\n\r\n"
    provider = RawProvider(server.url + "/later", breaker_min_calls=1, breaker_window=1)
    server.answers["/later"] = answer
    result = await provider.execute(client, {}, request_id="r", deadline=Deadline.after(2000))
    assert result.error_kind is ErrorKind.RATE_LIMITED
    assert result.status_code == 503
    assert result.retry_at is not None
    assert result.breaker_state is BreakerState.OPEN  # counted as the upstream's failure


# --- 3. trailers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trailer", [b"Content-Type: text/html\r\n", b"Content-Encoding: gzip\r\n"], ids=["type", "gzip"]
)
async def test_trailers_are_ignored(server: RawServer, client: HttpClient, trailer: bytes) -> None:
    # No Content-Type in the head: one in the trailer must not count either.
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = head + chunked(b'{"a": 1}', trailer)
    for _ in range(2):
        result = await call(server, client, "/trailed", answer)
        assert (result.success, result.data) == (True, {"a": 1}), result.error_message
    assert server.connections == 1  # a trailer is no reason to drop a connection


# --- 4. a second answer nobody asked for -----------------------------------------------------


async def test_an_unrequested_second_answer_is_not_taken_and_drops_the_connection(
    server: RawServer, client: HttpClient
) -> None:
    first = JSON_HEAD + b"Content-Length: 8\r\n\r\n" + b'{"a": 1}'
    second = b"HTTP/1.1 500 Boom\r\nContent-Length: 0\r\n\r\n"
    result = await call(server, client, "/twice", first + second)
    assert (result.success, result.status_code, result.data) == (True, 200, {"a": 1})
    await server.wait_all_closed()


# --- 5. 101 Switching Protocols, unasked -----------------------------------------------------


@pytest.mark.parametrize("connection", [b"Connection: upgrade\r\n", b""], ids=["upgrade", "bare"])
async def test_an_unasked_protocol_switch_is_a_connection_error_not_logged(
    server: RawServer, client: HttpClient, caplog: pytest.LogCaptureFixture, connection: bytes
) -> None:
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n%s\r\n" % connection
    with caplog.at_level(logging.WARNING):
        result = await call(server, client, "/switch", answer, retries=2, retry_base_delay_ms=1)
    assert result.error_kind is ErrorKind.CONNECTION_ERROR
    assert result.error_message is not None and "switch" in result.error_message.lower()
    assert result.attempts == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    if connection or client.has_direct_path:
        await server.wait_all_closed()
    # Else aiohttp took the 101 for a whole answer and pooled its connection before we saw
    # it; RFC 9110 7.8 has a sender of Upgrade send `Connection: upgrade` too.


# --- 6. obsolete line folding ----------------------------------------------------------------


async def test_a_folded_header_line_is_accepted(server: RawServer, client: HttpClient) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/\r\n json\r\nX-Note: one\r\n\ttwo\r\n"
        b'Content-Length: 8\r\n\r\n{"a": 1}'
    )
    result = await call(server, client, "/folded", answer, retries=2)
    assert (result.success, result.data, result.attempts) == (True, {"a": 1}, 1)


# --- 7. a body its Content-Encoding cannot decode --------------------------------------------


async def test_a_corrupt_gzip_body_is_invalid_json_saying_so(
    server: RawServer, client: HttpClient
) -> None:
    body = gzip.compress(b'{"a": 1}')[:-6] + b"garbage"
    answer = JSON_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    result = await call(server, client, "/corrupt", answer)
    assert result.error_kind is ErrorKind.INVALID_JSON
    assert result.error_message is not None
    assert "could not be decoded" in result.error_message
