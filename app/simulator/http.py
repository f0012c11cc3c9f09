"""A small HTTP/1.1 server on a raw `asyncio.Protocol`, fast enough to benchmark against.

It speaks just what the simulator needs: requests with `Content-Length` bodies (handed to the
handler), keep-alive, and `Content-Length` responses. A handler may answer
synchronously (no task per request) or return an awaitable when it has to wait.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


# (method, target, headers, body)
Handler = Callable[[str, str, dict[str, str], bytes], Response | Awaitable[Response]]

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSIONS = {b"HTTP/1.1": True, b"HTTP/1.0": False}  # version -> keep-alive by default


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


_STATUS_LINES: dict[int, bytes] = {s.value: _status_line(s.value) for s in HTTPStatus}


def encode_response(response: Response, *, keep_alive: bool) -> bytes:
    line = _STATUS_LINES.get(response.status) or _status_line(response.status)
    head = [line, b"Content-Length: %d\r\n" % len(response.body)]
    head.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in response.headers)
    if not keep_alive:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    head.append(response.body)
    return b"".join(head)


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool
    body_length: int


def _parse_head(head: bytes) -> _Request:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in _VERSIONS:
        raise BadRequest(400 if not version.startswith(b"HTTP/") else 505, "bad HTTP version")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise BadRequest(400, "malformed header line")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key in headers:
            if key == "content-length":
                if headers[key] != text:
                    raise BadRequest(400, "conflicting Content-Length")
                continue
            text = f"{headers[key]}, {text}"
        headers[key] = text
    if "transfer-encoding" in headers:
        raise BadRequest(501, "Transfer-Encoding is not supported")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, "body too large")
    connection = headers.get("connection", "").lower()
    keep_alive = _VERSIONS[version]
    if "close" in connection:
        keep_alive = False
    elif "keep-alive" in connection:
        keep_alive = True
    return _Request(method.decode("ascii"), target.decode("latin-1"), headers, keep_alive, length)


class _HttpProtocol(asyncio.Protocol):
    __slots__ = ("_buffer", "_busy", "_closing", "_paused", "_server", "_task", "_transport")

    def __init__(self, server: "HttpServer") -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._closing = False
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self._server._opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._transport = None
        if self._task is not None:
            self._task.cancel()
        self._server._closed(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._buffer += data
        if not self._busy:
            self._process()
        elif len(self._buffer) > MAX_HEAD_BYTES + MAX_BODY_BYTES and self._transport is not None:
            # A client pipelining faster than we answer must not grow the buffer unbounded.
            self._transport.pause_reading()
            self._paused = True

    def close(self) -> None:
        """Close after the pending writes are flushed."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def shutdown(self) -> None:
        """Server shutdown: idle connections get a clean FIN, busy or stalled ones a reset,
        so that no peer can hold the shutdown up."""
        transport = self._transport
        if transport is None:
            return
        if self._busy or self._buffer or transport.get_write_buffer_size():
            self._closing = True
            if self._task is not None:
                self._task.cancel()
            transport.abort()
        else:
            self.close()

    def _process(self) -> None:
        # Handles every complete request in the buffer, in order, until one must wait.
        while not self._closing and not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    self._fail(431, "request head too large")
                return
            try:
                request = _parse_head(bytes(self._buffer[:end]))
            except BadRequest as exc:
                self._fail(exc.status, str(exc))
                return
            total = end + 4 + request.body_length
            if len(self._buffer) < total:
                return  # the body is still arriving
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            try:
                result = self._server.handler(request.method, request.target, request.headers, body)
            except Exception:
                self._fail(500, "handler error")
                return
            if isinstance(result, Response):
                self._send(result, request.keep_alive)
            else:
                self._busy = True
                self._task = asyncio.ensure_future(self._finish(result, request.keep_alive))

    async def _finish(self, pending: Awaitable[Response], keep_alive: bool) -> None:
        try:
            response = await pending
        except asyncio.CancelledError:
            raise
        except Exception:
            response, keep_alive = Response(500, body=b"internal error"), False
        self._task = None
        self._busy = False
        if self._closing:
            return
        self._send(response, keep_alive)
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        if self._buffer:
            self._process()

    def _send(self, response: Response, keep_alive: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(encode_response(response, keep_alive=keep_alive))
        if not keep_alive:
            self.close()

    def _fail(self, status: int, message: str) -> None:
        body = message.encode()
        self._send(Response(status, [("Content-Type", "text/plain")], body), keep_alive=False)


class HttpServer:
    """`await start()`, read `.port`, `await close()`. Counts connections for tests."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[_HttpProtocol] = set()
        self.connections_total = 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        sockname: Any = self._server.sockets[0].getsockname()
        return int(sockname[1])

    @property
    def connections_open(self) -> int:
        return len(self._connections)

    def _opened(self, protocol: _HttpProtocol) -> None:
        self.connections_total += 1
        self._connections.add(protocol)

    def _closed(self, protocol: _HttpProtocol) -> None:
        self._connections.discard(protocol)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _HttpProtocol(self), self.host, self._requested_port, backlog=4096
        )

    async def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        # Idle keep-alive connections would otherwise hold `wait_closed` open.
        for protocol in list(self._connections):
            protocol.shutdown()
        await server.wait_closed()
        # Let the closed connections run `connection_lost` before the loop may stop.
        await asyncio.sleep(0)


async def serve(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
    server = HttpServer(handler, host, port)
    await server.start()
    return server
