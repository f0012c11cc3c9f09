"""`ConnectionPool`: the direct path's keep-alive HTTP/1.1 client, on asyncio protocols.

aiohttp's request machinery (ClientRequest, ClientResponse, StreamReader, traces, a timer per
read) costs about three times what a plain protocol and the llhttp parser need for one small
GET (`bench/transport_cpu.py`: 0.33x of raw aiohttp), and every provider call on the shared
client makes one. So `HttpClient.fetch_json`'s direct path runs here; httpx's own requests
keep `AiohttpTransport`. This does only what that path needs:

* any method over HTTP/1.1, with an optional body (sent with its `Content-Length`), http and
  https; keep-alive up to `keepalive_expiry`; at most
  `max_connections` open at once, a caller past that waiting up to the pool timeout (an idle
  connection to another origin is closed to make room);
* answers parsed by httptools (llhttp, in C, as uvicorn parses requests): 1xx skipped,
  Content-Length, chunked and read-until-close bodies, a head of at most 64 KiB;
* the body read up to a cap: a larger declared or counted body is not read on, and the
  connection is dropped instead of drained;
* only the body `fetch_json` reads: an answer that is not 2xx, or declares a type that is
  not JSON, is returned at its head, with no body (`connection.py`);
* trailers ignored, folded header lines unfolded; a second answer or a `101` nobody asked
  for drops the connection;
* httpx's timeouts (connect; read: no byte for that long; pool) and httpx's exceptions, so
  callers map failures as for any transport;
* a kept-alive connection found closed before any byte of the answer: an idempotent request
  (GET, HEAD, PUT, DELETE, OPTIONS) is sent once more on a new connection; a POST or PATCH
  fails, since the upstream may have acted on it.
"""

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from app.http.connection import Connection, Origin, request_head

_DEFAULT_PORTS = {"http": 80, "https": 443}
_RESENDABLE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
Timeouts = tuple[float | None, float | None, float | None]  # connect, read, pool


@dataclass(slots=True)
class Fetched:
    """What the direct path read: the head, and the body unless it was over the cap."""

    status: int
    reason: str
    headers: Any  # a CIMultiDictProxy: case-insensitive `get`, as aiohttp's
    body: bytes | None  # None: not read (over the cap, or not 2xx JSON)
    declared_length: int | None


class _StaleConnection(Exception):
    """A reused connection was closed before any byte of the answer arrived."""


class ConnectionPool:
    """Keep-alive connections per origin, at most `max_connections` open in all."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max = max_connections
        self._keepalive = keepalive_expiry
        self._ssl = ssl_context
        self._idle: dict[Origin, deque[Connection]] = {}
        self._open = 0
        self._room: deque[asyncio.Future[None]] = deque()
        self._heads: dict[tuple[str, URL], tuple[Origin, bytes, bytes]] = {}
        self._next_sweep = 0.0

    loop: asyncio.AbstractEventLoop  # the running loop, set by `get` before anything uses it

    async def get(
        self, url: URL, headers: Sequence[tuple[str, str]], timeouts: Timeouts, limit: int
    ) -> Fetched:
        """GET `url` (already encoded) with `headers`, the body read up to `limit` bytes."""
        return await self.request("GET", url, headers, None, timeouts, limit)

    async def request(
        self,
        method: str,
        url: URL,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeouts: Timeouts,
        limit: int,
    ) -> Fetched:
        """`method` `url` (already encoded) with `headers` and `body`, the answer's body read
        up to `limit` bytes."""
        self.loop = asyncio.get_running_loop()
        origin, request_line, host_line = self._start_line(method, url)
        head = request_head(request_line, host_line, headers)
        if body is not None or method not in _NO_BODY_METHODS:
            content = body or b""
            head = head[:-2] + b"Content-Length: %d\r\n\r\n" % len(content) + content
        connect_s, read_s, pool_s = timeouts
        conn = await self._acquire(origin, connect_s, pool_s, fresh=False)
        try:
            return await self._exchange(conn, head, read_s, limit)
        except _StaleConnection as exc:
            if method not in _RESENDABLE:
                raise httpx.RemoteProtocolError(
                    "kept-alive connection closed before answering; not resent (not idempotent)"
                ) from exc
            conn = await self._acquire(origin, connect_s, pool_s, fresh=True)
            return await self._exchange(conn, head, read_s, limit)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().abort()
        self._idle.clear()

    def forget(self, conn: Connection) -> None:
        """A connection closed: it no longer counts against the limit, nor waits idle."""
        if conn.counted:
            conn.counted = False
            self._free_slot()
        if conn.waiter is None:  # idle (rare: the server closed it, or it expired)
            idle = self._idle.get(conn.origin)
            if idle is not None and conn in idle:
                idle.remove(conn)

    def _free_slot(self) -> None:
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._room:
            waiter = self._room.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _exchange(
        self, conn: Connection, head: bytes, read_s: float | None, limit: int
    ) -> Fetched:
        loop = self.loop
        waiter: asyncio.Future[None] = loop.create_future()
        conn.start(waiter, limit)
        conn.last_io = loop.time()
        timer = None
        if read_s is not None:
            timer = loop.call_later(read_s, conn.check_read, waiter, read_s)
        try:
            assert conn.transport is not None
            conn.transport.write(head)
            await waiter
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            conn.abort()
            if conn.reused and not conn.got_bytes:
                raise _StaleConnection from exc
            raise
        except BaseException:
            conn.abort()  # timed out or cancelled mid-answer: its state is unknown
            raise
        finally:
            if timer is not None:
                timer.cancel()
        body = None if conn.over else b"".join(conn.chunks)
        headers = CIMultiDictProxy(
            CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in conn.headers])
        )
        fetched = Fetched(conn.status, conn.reason.decode("latin-1"), headers, body, conn.declared)
        if conn.keep_alive and not conn.closed:
            conn.waiter, conn.chunks, conn.reused = None, [], True
            conn.idle_since = loop.time()
            self._idle.setdefault(conn.origin, deque()).append(conn)
            self._wake_one()  # a caller waiting for room may take it, or close it for its own
            if conn.idle_since >= self._next_sweep:
                self._sweep(conn.idle_since)
        else:
            conn.abort()
        return fetched

    async def _acquire(
        self, origin: Origin, connect_s: float | None, pool_s: float | None, *, fresh: bool
    ) -> Connection:
        while True:
            idle = None if fresh else self._idle.get(origin)
            now = self.loop.time()
            while idle:
                conn = idle.pop()  # the most recently used: the least likely to be closed
                transport = conn.transport
                if (
                    not conn.closed
                    and transport is not None
                    and not transport.is_closing()
                    and now - conn.idle_since < self._keepalive
                ):
                    return conn
                conn.abort()
            if self._open < self._max:
                break
            if not self._close_an_idle_connection():
                await self._wait_for_room(pool_s)
        self._open += 1  # the slot is reserved while connecting, and the connection's after
        try:
            conn = await self._connect(origin, connect_s)
        except BaseException:
            self._free_slot()
            raise
        conn.counted = True
        return conn

    def _sweep(self, now: float) -> None:
        """Close idle connections past their keep-alive, at most once per keep-alive period:
        an origin no longer called must not keep its sockets open."""
        self._next_sweep = now + self._keepalive
        for idle in self._idle.values():
            while idle and now - idle[0].idle_since >= self._keepalive:
                idle.popleft().abort()  # the oldest first

    def _close_an_idle_connection(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle.popleft().abort()  # the oldest
                return True
        return False

    async def _wait_for_room(self, within_s: float | None) -> None:
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._room.append(waiter)
        try:
            async with asyncio.timeout(within_s):
                await waiter
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"all {self._max} connections busy for {within_s:g} s"
            ) from None
        finally:
            if not waiter.done():
                waiter.cancel()

    async def _connect(self, origin: Origin, within_s: float | None) -> Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl = self._ssl or ssl.create_default_context()
        elif scheme != "http":
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        try:
            async with asyncio.timeout(within_s):
                _, conn = await self.loop.create_connection(
                    lambda: Connection(self, origin),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {within_s:g} s"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return conn

    def _start_line(self, method: str, url: URL) -> tuple[Origin, bytes, bytes]:
        """The origin, `<METHOD> <target> HTTP/1.1` and the `Host` line, cached per URL."""
        cached = self._heads.get((method, url))
        if cached is None:
            scheme, host = url.scheme, url.raw_host or ""
            port = url.port or _DEFAULT_PORTS.get(scheme, 0)
            shown = f"[{host}]" if ":" in host else host
            if port != _DEFAULT_PORTS.get(scheme):
                shown = f"{shown}:{port}"
            request_line = f"{method} {url.raw_path_qs} HTTP/1.1\r\n".encode("ascii")
            cached = ((scheme, host, port), request_line, f"Host: {shown}\r\n".encode("ascii"))
            if len(self._heads) >= 4096:
                self._heads.clear()
            self._heads[(method, url)] = cached
        return cached


__all__ = ["ConnectionPool", "Fetched"]
