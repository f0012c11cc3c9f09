"""`ConnectionPool`, the direct path's own client, against a real server scripted per path.

`test_direct_path.py` already holds it to aiohttp's results for nine upstream behaviours; these
are the parts of HTTP/1.1 it owns: keep-alive and its staleness, the connection limit, the
request head it writes, and answers aiohttp would have parsed for it.
"""

import asyncio
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import trustme
from yarl import URL

from app.http.connection import MAX_HEAD_BYTES, Connection
from app.http.pool import ConnectionPool
from tests.support.polling import poll
from tests.support.ports import free_port
from tests.support.servers import Raw, ScriptedServer, Seen

NO_TIMEOUTS = (1.0, 1.0, 1.0)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class PoolServer(ScriptedServer):
    """Answers by path: `/held` waits for `release`, `/close` (and `/flaky` after its
    connection's first request) closes without a byte, the others are written below."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(self.answer, tls)
        self.held = 0
        self.release = asyncio.Event()

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await super().__aexit__(*exc)

    def at(self, path: str) -> URL:
        return URL(f"{self.url}{path}", encoded=True)

    @property
    def heads(self) -> list[bytes]:
        return [seen.head for seen in self.seen]

    async def answer(self, seen: Seen) -> Raw:
        if seen.path == "/held":
            self.held += 1
            await self.release.wait()
        if seen.path == "/close" or (seen.path == "/flaky" and seen.nth):
            return Raw(b"", close=True)  # closed without a byte of an answer
        if seen.path == "/until-close":
            return Raw(b'HTTP/1.1 200 OK\r\n\r\n{"read": "to the end"}', close=True)
        if seen.path == "/continue":
            return Raw(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
        if seen.path == "/huge-head":
            return Raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
        return Raw(OK)


@pytest.fixture
async def server() -> AsyncIterator[PoolServer]:
    async with PoolServer() as srv:
        yield srv


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    native = ConnectionPool(max_connections=4)
    yield native
    await native.aclose()


async def test_keep_alive_reuses_one_connection(server: PoolServer, pool: ConnectionPool) -> None:
    for _ in range(5):
        fetched = await pool.get(server.at("/ok"), [], NO_TIMEOUTS, 100)
        assert (fetched.status, fetched.body) == (200, b"{}")
        assert fetched.headers.get("content-type") == "application/json"
    assert server.connections == 1


async def test_a_stale_kept_alive_connection_is_retried_once_on_a_new_one(
    server: PoolServer, pool: ConnectionPool
) -> None:
    await pool.get(server.at("/ok"), [], NO_TIMEOUTS, 100)
    # The kept-alive connection closes without answering; the request goes out again.
    fetched = await pool.get(server.at("/flaky"), [], NO_TIMEOUTS, 100)
    assert fetched.body == b"{}"
    assert (server.requests["/flaky"], server.connections) == (2, 2)


async def test_a_new_connection_closed_before_answering_is_not_retried(
    server: PoolServer, pool: ConnectionPool
) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="before answering"):
        await pool.get(server.at("/close"), [], NO_TIMEOUTS, 100)
    assert server.requests["/close"] == 1


async def test_at_most_max_connections_open_the_rest_wait_or_time_out(
    server: PoolServer,
) -> None:
    pool = ConnectionPool(max_connections=2)
    calls = [
        asyncio.ensure_future(pool.get(server.at("/held"), [], NO_TIMEOUTS, 100)) for _ in range(4)
    ]
    await poll(lambda: server.held == 2, what="two requests held")
    with pytest.raises(httpx.PoolTimeout):
        await pool.get(server.at("/ok"), [], (1.0, 1.0, 0.01), 100)
    server.release.set()
    assert [f.body for f in await asyncio.gather(*calls)] == [b"{}"] * 4
    assert server.connections == 2
    await pool.aclose()


async def test_a_header_with_a_line_break_is_refused_before_sending(
    server: PoolServer, pool: ConnectionPool
) -> None:
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await pool.get(server.at("/ok"), [("X-Tenant", "t1\r\nX-Admin: yes")], NO_TIMEOUTS, 100)
    assert server.connections == 0


async def test_the_head_names_the_host_once_a_providers_own_host_wins(
    server: PoolServer, pool: ConnectionPool
) -> None:
    await pool.get(server.at("/ok?a=1%202"), [("User-Agent", "t")], NO_TIMEOUTS, 100)
    await pool.get(server.at("/ok"), [("host", "api.example")], NO_TIMEOUTS, 100)
    port = server.at("/").port
    host = f"Host: 127.0.0.1:{port}".encode()
    assert server.heads[0] == b"GET /ok?a=1%202 HTTP/1.1\r\n" + host + b"\r\nUser-Agent: t"
    assert server.heads[1] == b"GET /ok HTTP/1.1\r\nhost: api.example"


async def test_answers_read_to_the_close_and_after_an_informational_one(
    server: PoolServer, pool: ConnectionPool
) -> None:
    fetched = await pool.get(server.at("/until-close"), [], NO_TIMEOUTS, 100)
    assert (fetched.status, fetched.body) == (200, b'{"read": "to the end"}')
    fetched = await pool.get(server.at("/continue"), [], NO_TIMEOUTS, 100)
    assert (fetched.status, fetched.reason, fetched.body) == (200, "OK", b"{}")


async def test_a_head_over_the_cap_is_a_protocol_error(
    server: PoolServer, pool: ConnectionPool
) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="head over"):
        await pool.get(server.at("/huge-head"), [], NO_TIMEOUTS, 100)


async def test_nothing_listening_is_a_connect_error(pool: ConnectionPool) -> None:
    with pytest.raises(httpx.ConnectError):
        await pool.get(URL(f"http://127.0.0.1:{free_port()}/ok"), [], NO_TIMEOUTS, 100)


async def test_https_with_a_trusted_certificate_and_not_with_an_unknown_one() -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    trusting, untrusting = ConnectionPool(ssl_context=client_tls), ConnectionPool()
    try:
        async with PoolServer(server_tls) as server:
            for _ in range(2):
                fetched = await trusting.get(server.at("/ok"), [], NO_TIMEOUTS, 100)
                assert (fetched.status, fetched.body) == (200, b"{}")
            assert server.connections == 1  # kept alive over TLS too
            # The system's trust store does not know this CA: no request is sent.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.get(server.at("/ok"), [], NO_TIMEOUTS, 100)
            assert server.requests["/ok"] == 2
    finally:
        await trusting.aclose()
        await untrusting.aclose()


async def test_a_read_timer_left_from_an_earlier_request_leaves_the_next_one_alone() -> None:
    # A timer re-armed during request A outlives it; B, on the same connection, has its own.
    pool = ConnectionPool()
    pool.loop = asyncio.get_running_loop()
    conn = Connection(pool, ("http", "127.0.0.1", 80))
    first, second = pool.loop.create_future(), pool.loop.create_future()
    conn.start(first, 100)
    first.set_result(None)
    conn.start(second, 100)
    conn.last_io = pool.loop.time() - 10  # B has been quiet longer than A's timeout
    conn.check_read(first, 0.05)
    assert not second.done()
    conn.check_read(second, 0.05)  # B's own timer, past its timeout
    with pytest.raises(httpx.ReadTimeout):
        await second


async def test_idle_connections_past_their_keep_alive_are_swept_whatever_their_origin(
    server: PoolServer,
) -> None:
    pool = ConnectionPool(keepalive_expiry=30)
    try:
        async with PoolServer() as other:
            await pool.get(other.at("/ok"), [], NO_TIMEOUTS, 100)
            (stale,) = [c for idle in pool._idle.values() for c in idle]
            stale.idle_since -= 60  # idle for a minute, as a clock moved on would say
            pool._next_sweep = 0.0  # and a sweep due
            await pool.get(server.at("/ok"), [], NO_TIMEOUTS, 100)  # its release sweeps
            assert stale.closed
            assert [c.closed for idle in pool._idle.values() for c in idle] == [False]
    finally:
        await pool.aclose()


async def test_folded_lines_are_unfolded_across_reads_and_trailers_kept_out() -> None:
    # The head arrives in three reads, folds in two of them; each fold becomes one space.
    pool = ConnectionPool()
    pool.loop = asyncio.get_running_loop()
    conn = Connection(pool, ("http", "127.0.0.1", 80))
    waiter = pool.loop.create_future()
    conn.start(waiter, 100)
    reads = [
        b"HTTP/1.1 200 OK\r\nX-Note: one\r\n\t",
        b"two\r\nX-Other: a\r\n   b\r\nTransfer-Encoding: chunked\r\n",
        b"\r\n2\r\n{}\r\n0\r\nX-Late: trailer\r\n\r\n",
    ]
    for read in reads:
        conn.data_received(read)
    await waiter
    assert (conn.status, b"".join(conn.chunks), conn.keep_alive) == (200, b"{}", True)
    assert conn.headers == [
        (b"X-Note", b"one two"),
        (b"X-Other", b"a b"),
        (b"Transfer-Encoding", b"chunked"),
    ]
