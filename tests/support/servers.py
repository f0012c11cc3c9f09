"""Small real servers on loopback, scripted per request, for tests that need real sockets.

`ScriptedServer` speaks just enough HTTP/1.1: it reads each request (head, and a body of
`Content-Length` bytes), records it, and answers whatever its script returns: an `Answer`, raw
bytes (`Raw`: a broken or unusual answer, optionally closing the connection), or `None` to
never answer. The script may be a coroutine function (to hold a request until an event).
`Canary` counts the connections that reach it: a test expects none.
"""

import asyncio
import contextlib
import inspect
import socket
import ssl as ssl_module
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Self


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    head: bytes  # the request line and headers as sent, without the blank line
    nth: int  # how many requests this connection carried before this one

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


@dataclass
class Raw:
    """Bytes written as they are; `close` then drops the connection."""

    data: bytes
    close: bool = False


Reply = Answer | Raw | None
Script = Callable[[Seen], Reply | Awaitable[Reply]]


class ScriptedServer:
    """HTTP/1.1 on 127.0.0.1 (HTTPS with `tls`) that records every request and answers what
    `script` says; it counts connections, so keep-alive is checked from the server's side."""

    def __init__(self, script: Script, tls: ssl_module.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.seen: list[Seen] = []
        self.requests: Counter[str] = Counter()  # by path
        self.connections = 0
        self.open: set[asyncio.StreamWriter] = set()
        self.closed = asyncio.Event()  # set each time a connection ends
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self.open):
            writer.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"{'http' if self.tls is None else 'https'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open.add(writer)
        try:
            nth = 0
            while True:
                seen = await _read_request(reader, nth)
                nth += 1
                self.seen.append(seen)
                self.requests[seen.path] += 1
                reply = self.script(seen)
                if inspect.isawaitable(reply):
                    reply = await reply
                if reply is None:
                    await reader.read()  # never answer; wait for either side to close
                    return
                writer.write(_encode(reply) if isinstance(reply, Answer) else reply.data)
                await writer.drain()
                if isinstance(reply, Raw) and reply.close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open.discard(writer)
            writer.close()
            self.closed.set()


async def _read_request(reader: asyncio.StreamReader, nth: int) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n"))[:-4]
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, target, headers, body, head, nth)


def _encode(answer: Answer) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
    head = f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(answer.body)}\r\n{extra}\r\n"
    return head.encode() + answer.body


class Canary:
    """Listens on loopback (IPv4 and, when available, IPv6) and counts every connection."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0
        self._servers: list[asyncio.Server] = []

    async def __aenter__(self) -> "Canary":
        v4 = await asyncio.start_server(self._count, "127.0.0.1", 0)
        self._servers.append(v4)
        self.port = v4.sockets[0].getsockname()[1]
        if socket.has_ipv6:
            # Without IPv6 loopback, [::1] attempts cannot connect anywhere at all.
            with contextlib.suppress(OSError):
                self._servers.append(await asyncio.start_server(self._count, "::1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()
