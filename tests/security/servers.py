"""Real loopback servers for the security tests: a scripted upstream and a canary listener."""

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


# None: hold the connection open and never answer.
Script = Callable[[Seen], Answer | None]


class Upstream:
    """HTTP/1.1 on 127.0.0.1 that records every request and answers what `script` says."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Upstream":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, target, headers, body)
                self.seen.append(seen)
                answer = self.script(seen)
                if answer is None:
                    await asyncio.Event().wait()
                    return
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(answer.body)}\r\n"
                    f"{extra}\r\n".encode()
                    + answer.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()


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


async def poll(condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Wait until `condition()` holds, checking every few ms, failing after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
